// A progress line per epoch: step, loss, accuracy, images/s and ETA, redrawn in place on a
// terminal and printed every tenth of the epoch otherwise; then a one-line summary.

export class ProgressBar {
  readonly #t0 = performance.now();
  #lastPrinted = -1;

  constructor(
    readonly label: string,
    readonly total: number,
    readonly log: ((line: string) => void) | null,
    readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  update(step: number, v: { loss: number; acc: number; imagesPerSecond: number }): void {
    if (!this.log) return;
    const elapsed = (performance.now() - this.#t0) / 1000;
    const eta = step > 0 ? (elapsed / step) * (this.total - step) : 0;
    const width = 24;
    const filled = Math.round((step / Math.max(1, this.total)) * width);
    const line =
      `${this.label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${step}/${this.total} ` +
      `loss ${v.loss.toFixed(4)} acc ${(v.acc * 100).toFixed(2)}% ${v.imagesPerSecond.toFixed(0)} img/s ETA ${clock(eta)}`;
    if (this.tty) process.stderr.write(`\r${line}\x1b[K`);
    else {
      const tenth = Math.floor((step * 10) / Math.max(1, this.total));
      if (tenth !== this.#lastPrinted) {
        this.#lastPrinted = tenth;
        this.log(line);
      }
    }
  }

  finish(summary: string): void {
    if (!this.log) return;
    if (this.tty) process.stderr.write('\r\x1b[K');
    this.log(`${this.label}: ${summary} (${clock((performance.now() - this.#t0) / 1000)})`);
  }
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}
