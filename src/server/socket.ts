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
 * which matters with ten thousand idle keep-alive connections. An error destroys the socket,
 * and 'close' follows.
 */
export function listenTo(socket: Socket, owner: SocketOwner): void {
  (socket as OwnedSocket)[OWNER] = owner;
  socket.on('data', onSocketData);
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
  socket.on('error', destroySocket);
  socket.on('drain', onSocketDrain);
}

/**
 * Stops delivering the socket's data, end and drain events to its owner: another takes the
 * socket over (see Response.upgrade). 'close' still reaches the owner, and an error still
 * destroys the socket.
 */
export function handOver(socket: Socket): void {
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
