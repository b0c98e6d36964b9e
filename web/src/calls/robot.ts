// Robot commands the agent sends during a call (robot.command,
// docs/robot-protocol.md), the checks the server makes on them, and the
// robot's reported state read for the display mirror. Pure: no browser APIs.

/** One command, exactly as the server forwards it to the robot; only the fields of its action. */
export type RobotCommand =
  | { action: 'open_gate'; abnormal?: true; abnormal_reason?: AbnormalReason }
  | { action: 'display'; mode: DisplayMode; payload?: string }
  | { action: 'voice'; prompt: string }
  | { action: 'led'; color: LedColor };

export type DisplayMode = 'qr' | 'text' | 'face';
export const DISPLAY_MODES: readonly DisplayMode[] = ['text', 'qr', 'face'];

export const LED_COLORS = ['green', 'yellow', 'red', 'blue', 'white', 'off'] as const;
export type LedColor = (typeof LED_COLORS)[number];

export const ABNORMAL_REASONS = ['special-vehicle', 'special-person', 'non-motor-vehicle'] as const;
export type AbnormalReason = (typeof ABNORMAL_REASONS)[number];

/** The robot takes text fields (display payload, voice prompt) up to this many bytes of UTF-8. */
export const ROBOT_TEXT_MAX_BYTES = 512;
/** The server keeps a command's reason (the agent's remark) up to this many bytes. */
export const REASON_MAX_BYTES = 2000;

export function isAbnormalReason(v: unknown): v is AbnormalReason {
  return typeof v === 'string' && (ABNORMAL_REASONS as readonly string[]).includes(v);
}

export function isLedColor(v: unknown): v is LedColor {
  return typeof v === 'string' && (LED_COLORS as readonly string[]).includes(v);
}

export function utf8Bytes(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Why a robot text can't be sent: "empty", "too_long", or null when it can. */
export function robotTextProblem(text: string): 'empty' | 'too_long' | null {
  if (!text.trim()) return 'empty';
  if (utf8Bytes(text) > ROBOT_TEXT_MAX_BYTES) return 'too_long';
  return null;
}

export function openGate(): RobotCommand {
  return { action: 'open_gate' };
}

export function abnormalOpen(reason: AbnormalReason): RobotCommand {
  return { action: 'open_gate', abnormal: true, abnormal_reason: reason };
}

export function displayText(text: string): RobotCommand {
  return { action: 'display', mode: 'text', payload: text };
}

export function displayQr(payload: string): RobotCommand {
  return { action: 'display', mode: 'qr', payload };
}

export function displayFace(): RobotCommand {
  return { action: 'display', mode: 'face' };
}

export function voice(prompt: string): RobotCommand {
  return { action: 'voice', prompt };
}

export function led(color: LedColor): RobotCommand {
  return { action: 'led', color };
}

/** A command in a few words for the panel's log (the text itself, shortened). */
export function describeCommand(c: RobotCommand): string {
  switch (c.action) {
    case 'open_gate':
      return c.abnormal ? c.abnormal_reason ?? '' : '';
    case 'display':
      return c.mode === 'face' ? 'face' : `${c.mode}: ${shorten(c.payload ?? '', 60)}`;
    case 'voice':
      return shorten(c.prompt, 60);
    case 'led':
      return c.color;
  }
}

export function shorten(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

// ── The robot's state (display mirror) ─────────────────────────────────────

/** What the page shows of a robot's state: every field plain text, cut to a sane length. */
export interface RobotView {
  /** "" when the robot says nothing about its display. */
  mode: DisplayMode | '';
  /** The text shown, or the QR code's payload. */
  payload: string;
  gate: string;
  plate: string;
  led: string;
  /** The state has any field we show. */
  known: boolean;
}

const MAX_TEXT = 1024;

/** Reads a robot's state (its own JSON, untrusted): anything of the wrong type is left out. */
export function readRobotState(raw: unknown): RobotView {
  const view: RobotView = { mode: '', payload: '', gate: '', plate: '', led: '', known: false };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return view;
  const o = raw as Record<string, unknown>;
  const d = o.display;
  if (d && typeof d === 'object' && !Array.isArray(d)) {
    const dd = d as Record<string, unknown>;
    if (dd.mode === 'text' || dd.mode === 'qr' || dd.mode === 'face') view.mode = dd.mode;
    view.payload = text(dd.payload, MAX_TEXT);
  }
  view.gate = text(o.gate, 32);
  view.plate = text(o.plate, 32);
  if (!view.plate && o.vehicle && typeof o.vehicle === 'object') view.plate = text((o.vehicle as Record<string, unknown>).plate, 32);
  view.led = text(o.led, 16);
  view.known = view.mode !== '' || view.gate !== '' || view.plate !== '' || view.led !== '';
  return view;
}

function text(v: unknown, max: number): string {
  if (typeof v !== 'string') return '';
  // Control characters say nothing to the agent and can hide text.
  let out = '';
  for (const ch of v) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0x0a || (cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0))) out += ch;
  }
  return shorten(out.trim(), max);
}
