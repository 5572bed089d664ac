/** A one-line progress display on a terminal; silent when stderr is not a TTY (logs, CI). */
export function createProgress(label: string, total?: number): { tick(n?: number): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  const start = Date.now();
  let count = 0;
  let last = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!tty || (!force && now - last < 100)) return;
    last = now;
    const rate = count / Math.max(1e-3, (now - start) / 1000);
    const pct = total === undefined ? '' : ` ${((100 * count) / Math.max(1, total)).toFixed(0)}%`;
    const eta = total === undefined || rate === 0 ? '' : ` eta ${Math.max(0, (total - count) / rate).toFixed(0)}s`;
    process.stderr.write(`\r${label} ${count}${total === undefined ? '' : `/${total}`}${pct} ${rate.toFixed(1)}/s${eta}   `);
  };
  return {
    tick(n = 1) {
      count += n;
      draw(false);
    },
    done() {
      draw(true);
      if (tty) process.stderr.write('\n');
    },
  };
}
