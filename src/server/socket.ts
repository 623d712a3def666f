import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

/** What a socket's events are delivered to (the Connection). */
export interface SocketOwner {
  onData(chunk: Buffer): void;
  onEnd(): void;
  onSocketClose(): void;
  onDrain(): void;
}

const OWNER = Symbol('owner');

/** A socket with its owner, so that one set of listener functions serves every socket. */
interface OwnedSocket extends Socket {
  [OWNER]: SocketOwner;
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER].onData(chunk);
}

/**
 * The one buffer every socket reads into: accepted ones (see `readIntoSharedBuffer`) and the
 * proxy's upstream connections (`net.connect`'s `onread`). Reads are handled one at a time,
 * synchronously, so one buffer serves them all; what a read delivers is a view of it, valid
 * until its callback returns, and whatever outlives the read is copied.
 */
export const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** Set on a socket reading into the shared buffer. */
const SHARED_READS = Symbol('sharedReads');
/** Set by handOver on such a socket: its reads go to 'data' listeners again, as copies. */
const HANDED_OVER = Symbol('handedOver');

interface SharedReadSocket extends OwnedSocket {
  [SHARED_READS]?: true;
  [HANDED_OVER]?: true;
  /** Node's stream handle (internal); `useUserBuffer` makes its reads fill one given buffer. */
  _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null;
}

function onSharedRead(this: SharedReadSocket, nread: number, buffer: Buffer): void {
  const chunk = buffer.subarray(0, nread);
  if (this[HANDED_OVER] === true) this.emit('data', Buffer.from(chunk));
  else this[OWNER].onData(chunk);
}

/**
 * Trick: Node's `onread` socket option, for accepted sockets. By default every read allocates a
 * new buffer and pushes it through the socket's readable stream to its 'data' event, which also
 * schedules a read-ahead tick: for a small file, about 3 µs of a request's 21 (README.md, "Against
 * nginx as production configures it"). With `onread` Node reads into one buffer and calls a
 * function instead; `pause()`, `resume()`, 'end' and errors keep working, except that a paused
 * socket reads nothing at all (not even the peer's FIN or reset), where a paused stream still
 * reads ahead to its high-water mark. Node offers the option only to sockets it creates to
 * connect, so an accepted socket gets the two fields the option sets (`kBuffer`, `kBufferCb`,
 * found by their names) and the handle call it makes, before it first reads (the server accepts
 * with `pauseOnConnect`). Where those are not what this expects, it changes nothing and returns
 * false: the socket reads through its stream.
 */
function readIntoSharedBuffer(socket: SharedReadSocket, onRead: (this: SharedReadSocket, nread: number, buffer: Buffer) => void = onSharedRead): boolean {
  const handle = socket._handle;
  if (typeof handle?.useUserBuffer !== 'function') return false;
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === 'kBuffer') buffer = key;
    else if (key.description === 'kBufferCb') callback = key;
  }
  const fields = socket as unknown as Record<symbol, unknown>;
  if (buffer === undefined || callback === undefined || fields[buffer] !== null || fields[callback] !== null) return false;
  fields[buffer] = SHARED_READ_BUFFER;
  fields[callback] = onRead;
  handle.useUserBuffer(SHARED_READ_BUFFER);
  socket[SHARED_READS] = true;
  return true;
}

/** Whether `socket` reads into the shared buffer (see listenTo). */
export function readsIntoSharedBuffer(socket: Socket): boolean {
  return (socket as SharedReadSocket)[SHARED_READS] === true;
}

/**
 * Delivers what `socket` reads to `onChunk` as a view of the shared buffer, valid only during
 * the call; through 'data' events (a buffer each) where Node does not allow that. For a pipe to
 * a child process, right after the spawn: Node has asked it to read, but nothing is read before
 * the next poll phase.
 */
export function readInto(socket: Socket, onChunk: (chunk: Buffer) => void): void {
  const shared = readIntoSharedBuffer(socket as SharedReadSocket, (nread, buffer) => onChunk(buffer.subarray(0, nread)));
  if (!shared) socket.on('data', onChunk);
  // Flowing, as a 'data' listener would make it: else the end of input is never emitted, and
  // the socket never closes.
  socket.resume();
}

function onSocketEnd(this: OwnedSocket): void {
  this[OWNER].onEnd();
}

function onSocketClose(this: OwnedSocket): void {
  this[OWNER].onSocketClose();
}

function onSocketDrain(this: OwnedSocket): void {
  this[OWNER].onDrain();
}

function destroySocket(this: Socket): void {
  this.destroy();
}

/**
 * Delivers `socket`'s events to `owner` through shared functions: no closures per connection,
 * which matters with ten thousand idle keep-alive connections. The socket must not have started
 * reading (the server accepts with `pauseOnConnect`); reading starts here. What `onData` gets is
 * a view of one buffer shared by all sockets (see readIntoSharedBuffer), valid only during the
 * call: the owner copies what it keeps. With `streamReads`, or where Node does not allow that,
 * it gets the socket's own buffers through 'data' events. An error destroys the socket, and
 * 'close' follows.
 */
export function listenTo(socket: Socket, owner: SocketOwner, streamReads = false): void {
  (socket as OwnedSocket)[OWNER] = owner;
  if (streamReads || !readIntoSharedBuffer(socket as SharedReadSocket)) socket.on('data', onSocketData);
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
  socket.on('error', destroySocket);
  socket.on('drain', onSocketDrain);
  socket.resume();
}

/**
 * Stops delivering the socket's data, end and drain events to its owner: another takes the
 * socket over (see Response.upgrade) and reads it through 'data' events, also where it read into
 * the shared buffer (each chunk is then a copy). 'close' still reaches the owner, and an error
 * still destroys the socket.
 */
export function handOver(socket: Socket): void {
  (socket as SharedReadSocket)[HANDED_OVER] = true;
  socket.removeListener('data', onSocketData);
  socket.removeListener('end', onSocketEnd);
  socket.removeListener('drain', onSocketDrain);
}

/**
 * Ends our side and discards what the client still sends until it closes, so that unread
 * input does not make the kernel reset the connection and destroy the response in flight
 * (RFC 9112 section 9.6 "tear-down"; nginx calls this lingering close), for at most `lingerMs`
 * after the last byte has left.
 */
export function lingeringClose(socket: Socket, lingerMs: number): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.resume();
  // The linger starts once everything written has left; a client that never reads is dropped
  // by the send timeout instead.
  socket.end(() => setTimeout(() => socket.destroy(), lingerMs).unref());
}
