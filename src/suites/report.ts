// What a suite run leaves in its `out` folder: the resume state (per-sample results, one JSON line per
// batch, keyed by sample id so that interrupted runs resume and shards can be joined), and the final
// report as JSON and as CSV.
import * as fs from 'fs';
import * as path from 'path';

/** One figure of a report: a subset's or a class's metric (class null for a whole subset). */
export interface Figure {
  subset: string;
  class: string | null;
  metric: string;
  value: number | null;
  /** Samples behind the figure. */
  count: number;
}

export interface SuiteReport {
  suite: string;
  model: { name: string | null; weightsSha256: string | null };
  settings: Record<string, unknown>;
  /** The headline numbers (null where the data present does not determine them). */
  summary: Record<string, number | null>;
  figures: Figure[];
  /** Samples evaluated (from this run or resumed). */
  samples: number;
  /** Samples left out because an image could not be read (skipUnreadable): how many, and the first ids. Absent when none. */
  skipped?: { count: number; samples: string[] };
}

/** Per-sample results as the suites record them (predictions, top-5 lists, scores). */
export type SampleResult = Record<string, unknown>;

export const STATE_FILE = 'state.jsonl';

/**
 * The completed samples of a run. The first line is a header naming what the results depend on (suite,
 * data, model, transform); resuming under a different header is refused rather than mixing results.
 */
export class ResumeState {
  private readonly results = new Map<string, SampleResult>();

  private constructor(private readonly file: string | null) {}

  /** Opens (or starts) the state under `out` (a shard names its own file); null keeps everything in memory. */
  static open(out: string | null, header: Record<string, unknown>, name = STATE_FILE): ResumeState {
    if (out === null) return new ResumeState(null);
    fs.mkdirSync(out, { recursive: true });
    const file = path.join(out, name);
    const state = new ResumeState(file);
    const want = JSON.stringify(header);
    if (!fs.existsSync(file)) {
      fs.writeFileSync(file, want + '\n');
      return state;
    }
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    if (lines[0] !== want)
      throw new RangeError(
        `evaluateSuite: '${file}' holds results of another run (${lines[0].slice(0, 200)}); use another out folder or delete it`,
      );
    for (const line of lines.slice(1)) {
      if (!line) continue;
      let batch: { ids: string[]; results: SampleResult[] };
      try {
        batch = JSON.parse(line);
      } catch {
        continue; // the last line of a run killed while writing
      }
      batch.ids.forEach((id, i) => state.results.set(id, batch.results[i]));
    }
    return state;
  }

  get size(): number {
    return this.results.size;
  }

  get(id: string): SampleResult | undefined {
    return this.results.get(id);
  }

  /** Records a batch, on disk first so that an interruption loses at most the batch in flight. */
  add(ids: string[], results: SampleResult[]): void {
    if (this.file) fs.appendFileSync(this.file, JSON.stringify({ ids, results }) + '\n');
    ids.forEach((id, i) => this.results.set(id, results[i]));
  }
}

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The report as CSV: the summary rows (no subset), then one row per figure. */
export function reportCsv(report: SuiteReport): string {
  const rows: unknown[][] = [['subset', 'class', 'metric', 'value', 'count']];
  for (const [metric, value] of Object.entries(report.summary)) rows.push(['', '', metric, value, report.samples]);
  for (const f of report.figures) rows.push([f.subset, f.class, f.metric, f.value, f.count]);
  return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** Writes report.json and report.csv under `out`; returns their paths. */
export function writeReport(out: string, report: SuiteReport): { json: string; csv: string } {
  fs.mkdirSync(out, { recursive: true });
  const json = path.join(out, 'report.json'),
    csv = path.join(out, 'report.csv');
  fs.writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(csv, reportCsv(report));
  return { json, csv };
}
