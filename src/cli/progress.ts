// Progress bars for long jobs: one line on stderr with count, percent, rate and ETA, redrawn in
// place. Only a TTY gets them (a log file or a pipe would fill with carriage returns), and
// --quiet turns them off.

export interface ProgressOptions {
  /** Draw nothing at all. */
  quiet?: boolean;
  /** Where to draw (default process.stderr); nothing is drawn unless `isTTY` is true. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Milliseconds between redraws (default 100: at most ~10 a second). */
  interval?: number;
  /** Clock in milliseconds, for tests (default Date.now). */
  now?: () => number;
}

export interface Progress {
  /** `done` items of `total` (which may change, e.g. when it becomes known late); `note` is shown after the figures. */
  update(done: number, total?: number, note?: string): void;
  /** Draws the final state and ends the line. */
  finish(note?: string): void;
}

/** Seconds as `42s`, `3m05s` or `2h07m`; `--` when unknown (no rate yet, or infinite). */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Items per second with three significant digits (`12.3/s`), or per minute when slower than one every 10 s. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '--/s';
  if (perSecond < 0.1) return `${(perSecond * 60).toPrecision(3)}/min`;
  return `${perSecond >= 1000 ? Math.round(perSecond) : perSecond.toPrecision(3)}/s`;
}

/** The whole line without the bar's drawing: `label [####.....] 12/40 30% 3.10/s ETA 9s note`. */
export function formatProgressLine(
  label: string,
  done: number,
  total: number,
  seconds: number,
  width: number,
  note?: string,
): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const rate = seconds > 0 ? done / seconds : NaN;
  const eta = done >= total ? 0 : rate > 0 ? (total - done) / rate : NaN;
  const figures = `${done}/${total} ${Math.floor(100 * fraction)}% ${formatRate(rate)} ETA ${formatEta(eta)}${note ? ` ${note}` : ''}`;
  // The bar takes what the label and figures leave of the terminal's width, between 10 and 30 cells.
  const barWidth = Math.max(10, Math.min(30, width - label.length - figures.length - 4));
  const filled = Math.round(barWidth * fraction);
  const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${figures}`;
  return line.length < width ? line : line.slice(0, Math.max(0, width - 1));
}

const SILENT: Progress = { update() {}, finish() {} };

export function progress(label: string, total: number, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet || !(stream as { isTTY?: boolean }).isTTY) return SILENT;
  const now = options.now ?? Date.now;
  const interval = options.interval ?? 100;
  const started = now();
  let lastDraw = -Infinity;
  let done = 0;
  let note: string | undefined;
  let finished = false;
  const draw = () => {
    const width = (stream.columns ?? 80) || 80;
    stream.write(`\r${formatProgressLine(label, done, total, (now() - started) / 1000, width, note)}\x1b[K`);
    lastDraw = now();
  };
  return {
    update(d, t, n) {
      if (finished) return;
      done = d;
      if (t !== undefined) total = t;
      if (n !== undefined) note = n;
      if (now() - lastDraw >= interval || (done >= total && total > 0)) draw();
    },
    finish(n) {
      if (finished) return;
      finished = true;
      if (n !== undefined) note = n;
      draw();
      stream.write('\n');
    },
  };
}
