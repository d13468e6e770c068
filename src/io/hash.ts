// Content hashes for reports: a run records the SHA-256 of its weights and inputs so a reader can
// tell which files produced it.
import * as fs from 'fs';
import { createHash } from 'crypto';

/** SHA-256 (hex) of a file, read as a stream (checkpoints can be gigabytes). A read error names the
 * caller and the argument: "evaluateSuite: cannot read weightsPath '<file>': <reason>". */
export function sha256File(file: string, op = 'sha256File', name = 'file'): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('error', (e) => reject(new Error(`${op}: cannot read ${name} '${file}': ${e.message}`)))
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}
