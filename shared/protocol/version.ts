/**
 * Version of the coordinator <-> client wire protocol. Bumped on any incompatible message change; the
 * gateway refuses a handshake whose version differs, so old clients get a clear upgrade message.
 */
/** 2: the handshake signature binds the server-chosen session id (authChallenge). */
export const PROTOCOL_VERSION = 2;

/** socket.io event names: one for whole messages, one for chunks of a message too big for one frame. */
export const MESSAGE_EVENT = 'fp';
export const CHUNK_EVENT = 'fpc';

/** Largest frame we emit; the server's maxHttpBufferSize is set a little above this. */
export const CHUNK_BYTES = 512 * 1024;
export const MAX_HTTP_BUFFER_BYTES = 1024 * 1024;
