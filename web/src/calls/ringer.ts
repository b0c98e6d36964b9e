// The ring: a sound and a blinking tab title while a call rings for this
// agent, whatever page is open — agents are not always looking at the
// console. The sound is made with Web Audio (no file to fetch) and can be
// turned off; browsers only let it play after the agent has interacted with
// the page, so a blocked ring says so.

import { isLive, type CallsState } from './callState';

/** Whether this agent's console should ring now. */
export function shouldRing(s: CallsState): boolean {
  return s.conn === 'connected' && s.presence === 'online' && !isLive(s.active) && s.ringing.length > 0;
}

export const RING_SOUND_KEY = 'attendant.ringSound';

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** The agent's choice: ring with sound (the default) or silently. */
export function ringSoundOn(): boolean {
  return storage()?.getItem(RING_SOUND_KEY) !== 'off';
}

export function setRingSound(on: boolean): void {
  storage()?.setItem(RING_SOUND_KEY, on ? 'on' : 'off');
}

/** One ring: two short tones, then a pause (seconds from the ring's start). */
export const RING_PATTERN: readonly { at: number; hz: number; len: number }[] = [
  { at: 0, hz: 660, len: 0.35 },
  { at: 0.45, hz: 880, len: 0.35 },
];
export const RING_PERIOD_S = 2.5;

/** The tab's title while ringing, alternating with the page's own. */
export function ringTitle(base: string, label: string, tick: number): string {
  return tick % 2 === 0 ? `☎ ${label}` : base;
}

export type RingerAudio = 'off' | 'running' | 'blocked';

/** What the call service needs of a ringer (tests pass a fake). */
export interface RingerLike {
  readonly ringing: boolean;
  status(): RingerAudio;
  start(label: string, sound: boolean): void;
  stop(): void;
  unblock(): void;
  close(): void;
}

/**
 * Rings while on: schedules RING_PATTERN every RING_PERIOD_S on an
 * AudioContext made on first use and kept (browsers limit how many a page
 * may create), and blinks the title. status() says whether the sound
 * plays or waits for the agent to touch the page.
 */
export class Ringer implements RingerLike {
  private ctx: AudioContext | null = null;
  private timer: number | null = null;
  private tick = 0;
  private baseTitle = '';
  private shown = ''; // the title this ringer set last
  private label = '';
  private sound = true;

  constructor(private readonly onChange: () => void = () => undefined) {}

  get ringing(): boolean {
    return this.timer !== null;
  }

  status(): RingerAudio {
    if (!this.ringing || !this.sound) return 'off';
    return this.ctx?.state === 'running' ? 'running' : 'blocked';
  }

  /** Starts ringing (again, if the label or sound changed). */
  start(label: string, sound: boolean): void {
    this.label = label;
    if (this.ringing && sound === this.sound) return;
    this.stop();
    this.sound = sound;
    this.baseTitle = document.title;
    this.tick = 0;
    if (sound) this.ensureContext();
    this.ring();
    this.timer = window.setInterval(() => this.ring(), (RING_PERIOD_S * 1000) / 2);
    this.onChange();
  }

  stop(): void {
    if (this.timer === null) return;
    window.clearInterval(this.timer);
    this.timer = null;
    if (document.title === this.shown) document.title = this.baseTitle;
    this.onChange();
  }

  /** Lets a blocked ring play: call from a click or key press. */
  unblock(): void {
    if (this.ctx && this.ctx.state === 'suspended') {
      void this.ctx.resume().then(this.onChange, () => undefined);
    }
  }

  /** Closes the audio (the call service stopped). */
  close(): void {
    this.stop();
    void this.ctx?.close().catch(() => undefined);
    this.ctx = null;
  }

  private ensureContext(): void {
    if (this.ctx || typeof AudioContext === 'undefined') return;
    try {
      this.ctx = new AudioContext();
      this.ctx.onstatechange = this.onChange;
    } catch {
      this.ctx = null; // no audio: the title still blinks
    }
  }

  /** Called twice a period: the title every time, the tones every other. */
  private ring(): void {
    // the page changed its title meanwhile (a language switch): that is the base now
    if (this.tick > 0 && document.title !== this.shown) this.baseTitle = document.title;
    this.shown = ringTitle(this.baseTitle, this.label, this.tick);
    document.title = this.shown;
    const tones = this.tick % 2 === 0;
    this.tick++;
    const ctx = this.ctx;
    if (!tones || !this.sound || !ctx) return;
    if (ctx.state === 'suspended') {
      void ctx.resume().catch(() => undefined); // works once the page had a user gesture
      return;
    }
    const t0 = ctx.currentTime + 0.02;
    for (const tone of RING_PATTERN) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = tone.hz;
      // soft edges: no clicks
      gain.gain.setValueAtTime(0, t0 + tone.at);
      gain.gain.linearRampToValueAtTime(0.25, t0 + tone.at + 0.02);
      gain.gain.setValueAtTime(0.25, t0 + tone.at + tone.len - 0.04);
      gain.gain.linearRampToValueAtTime(0, t0 + tone.at + tone.len);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + tone.at);
      osc.stop(t0 + tone.at + tone.len);
    }
  }
}
