// Imported, not the global: in Node the global performance is a getter, called on each use.
import { performance } from 'node:perf_hooks';

let turn = 0;
let turnEnding = false;
let hitsThisTurn = 0;
let turnStartedAt = 0;
/** A turn never covers more hits, or more time, than this, whatever the poll phase does. */
const MAX_HITS_PER_TURN = 32;
const MAX_TURN_MS = 1;

function endTurn(): void {
  turn++;
  turnEnding = false;
  hitsThisTurn = 0;
}

/**
 * The current event-loop turn, for sharing one stat among the requests of a poll phase.
 *
 * Why that never serves an edit late: every request handled in a poll phase had arrived by the
 * time that phase's readiness was reported, which is before the first stat of the phase. So a
 * request sent after a write completed is handled in a later phase, after the turn has ended
 * (setImmediate runs right after the poll phase), and gets a stat of its own. A request that
 * was still arriving during the write was concurrent with it and may see either version. The
 * caps on hits and time per turn (32 hits, 1 ms) bound the cases where a turn could outlive its
 * poll phase: libuv polling again inside the same phase (more than a thousand ready sockets at
 * once), or a hit outside the poll phase.
 */
export function currentTurn(): number {
  const now = performance.now();
  if (!turnEnding) {
    turnEnding = true;
    turnStartedAt = now;
    setImmediate(endTurn).unref();
  } else if (++hitsThisTurn > MAX_HITS_PER_TURN || now - turnStartedAt > MAX_TURN_MS) {
    endTurn();
    turnEnding = true;
    turnStartedAt = now;
  }
  return turn;
}
