import { FedProfileError, type ErrorCode } from '../errors.js';

/** Why a SecAgg+ message was refused; carried in `details.reason` so logs and tests can tell cases apart. */
export type SecAggRejection =
  | 'malformed'
  | 'unknown-sender'
  | 'wrong-stage'
  | 'replay'
  | 'bad-signature'
  | 'wrong-length'
  | 'misaddressed'
  | 'bad-ciphertext'
  | 'bad-request'
  | 'bad-update';

const CODES: Record<SecAggRejection, ErrorCode> = {
  'malformed': 'BAD_INPUT',
  'unknown-sender': 'PROTOCOL',
  'wrong-stage': 'PROTOCOL',
  'replay': 'REPLAY',
  'bad-signature': 'BAD_INPUT',
  'wrong-length': 'BAD_INPUT',
  'misaddressed': 'PROTOCOL',
  'bad-ciphertext': 'BAD_INPUT',
  'bad-request': 'PROTOCOL',
  'bad-update': 'BAD_INPUT',
};

/** A refused SecAgg+ message. The session that threw it stays usable. */
export class SecAggError extends FedProfileError {
  readonly reason: SecAggRejection;
  constructor(reason: SecAggRejection, message: string, details?: Record<string, unknown>) {
    super(CODES[reason], message, { reason, ...details });
    this.reason = reason;
  }
}
