// A QR code as an SVG path (uqr encodes; we draw), so the display mirror can
// show a payload as Preact elements: nothing is parsed as HTML. Pure.

import { encode } from 'uqr';

export interface QrPath {
  /** Modules per side, border included. */
  size: number;
  /** One path: a rectangle per run of dark modules in a row. */
  d: string;
}

/** The QR code of text (error correction M, a 2-module border); null when it can't be encoded. */
export function qrPath(text: string): QrPath | null {
  if (!text) return null;
  let data: boolean[][];
  try {
    data = encode(text, { ecc: 'M', border: 2 }).data;
  } catch {
    return null; // too long for a QR code
  }
  const parts: string[] = [];
  data.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (!row[x]) {
        x++;
        continue;
      }
      const start = x;
      while (x < row.length && row[x]) x++;
      parts.push(`M${start} ${y}h${x - start}v1h${start - x}z`);
    }
  });
  return { size: data.length, d: parts.join('') };
}

/** The dark modules of a path (for tests: each run is "M x y h n …"). */
export function darkModules(p: QrPath): number {
  let n = 0;
  for (const m of p.d.matchAll(/h(\d+)v1/g)) n += Number(m[1]);
  return n;
}
