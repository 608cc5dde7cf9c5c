// The server list's rows not built yet, in name order. The list builds the
// rows that fill the screen at once and the rest a few at a time when the
// browser is idle, always from the front of the backlog, so the built rows
// are the first ones in name order and the backlog the rest: a server that
// appears (a watch message) joins the backlog when it sorts after the
// backlog's first name, else its row is built at once. Names compare as
// the list sorts them (by code unit). DOM-free: test/row_backlog.test.ts.

export class RowBacklog {
  private names: string[] = [];

  get size(): number {
    return this.names.length;
  }

  // Replaces the backlog with `sorted` (in name order, each name once).
  fill(sorted: string[]): void {
    this.names = [...sorted];
  }

  // Whether `name` belongs in the backlog rather than in the built rows.
  wants(name: string): boolean {
    return this.names.length > 0 && name > this.names[0];
  }

  // REQUIRES: wants(name), and name not in the backlog.
  add(name: string): void {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.names[mid] < name) lo = mid + 1;
      else hi = mid;
    }
    this.names.splice(lo, 0, name);
  }

  delete(name: string): void {
    const at = this.names.indexOf(name);
    if (at >= 0) this.names.splice(at, 1);
  }

  // Up to `count` names from the front, taken out of the backlog.
  take(count: number): string[] {
    return this.names.splice(0, count);
  }
}
