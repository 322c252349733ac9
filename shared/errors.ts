/**
 * Every error the project raises on purpose is a FedProfileError with a stable machine-readable code,
 * so the CLI, HTTP API and socket gateway can turn it into an actionable message without a stack trace.
 */
export type ErrorCode =
  | 'BAD_INPUT'
  | 'BAD_CONFIG'
  | 'BAD_DATA_FILE'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'PROTOCOL'
  | 'REPLAY'
  | 'DEADLINE'
  | 'QUORUM'
  | 'SECAGG_ABORT'
  | 'BACKEND'
  | 'INTEGRITY'
  | 'INTERNAL';

export class FedProfileError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export class ConfigError extends FedProfileError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('BAD_CONFIG', message, details);
  }
}

export class DataFileError extends FedProfileError {
  readonly file: string;
  constructor(file: string, problem: string, details?: Record<string, unknown>) {
    super('BAD_DATA_FILE', `${file}: ${problem}`, { file, ...details });
    this.file = file;
  }
}

export class ProtocolError extends FedProfileError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('PROTOCOL', message, details);
  }
}

export function isFedProfileError(e: unknown): e is FedProfileError {
  return e instanceof FedProfileError;
}
