// The one error type of the checkpoint readers, so callers can tell "this file is bad or refused"
// apart from programming errors (TypeError / RangeError for bad arguments).

/** A corrupt, truncated, unsupported or refused checkpoint file; the message names the file and the problem. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}
