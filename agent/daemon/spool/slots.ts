import { lstatSync, unlinkSync } from 'node:fs';
import { deliverAnswer, type Delivery } from './deliver.ts';
import { isMissing } from './fs-errors.ts';
import { slotClaimPath, slotPath, type SpoolLayout } from './layout.ts';

// Answer slots: FIFOs the agent makes ahead of time, in batches
// (slot-pool.ts), so that the client does not have to fork and exec mkfifo
// for each request while PostgreSQL waits. The rule that keeps them safe: a
// slot carries one answer, to the one client that claimed it.
//
//   agent:  makes resp/<token>.slot, under a hidden name first, and renames
//           it into place once it is ready. Tokens are never reused.
//   client: for each resp/*.slot that is a FIFO, creates resp/<token>.claim
//           exclusively (noclobber, an O_EXCL open: no fork). Whoever
//           creates it owns the slot, once it has checked that the FIFO is
//           still there: a slot served and retired since the client listed
//           the directory has no FIFO any more, and the client moves on,
//           leaving its claim for the sweep. It then uses <token> as its
//           request id: req/<token>.req, answered through the slot.
//   agent:  takes a request named by a token only while its claim exists;
//           one without was not made through a claimed slot (or its client
//           took it back), and is removed unserved. After serving, it writes
//           the answer into the slot (still only while the claim exists),
//           then retires the slot: the FIFO first, then the claim, then
//           req/<token>.work.
//
// The order of removals is what makes a claim exclusive for good: a claim
// can be created again only once the previous one is gone, and by then the
// FIFO is gone too, so the re-check fails. A client that gives up removes
// its request, then the FIFO, then the claim, for the same reason. No
// registry is needed: a restarted agent answers any claimed token's request
// through its slot, and unclaimed slots stay in the pool across restarts.
// Leftovers of clients that died (claims without a FIFO, claimed slots
// whose request never came) are removed by the sweep (sweep.ts).

/** Whether a client holds the slot: its claim file exists. */
export function isSlotClaimed(layout: SpoolLayout, token: string): boolean {
  try {
    lstatSync(slotClaimPath(layout, token));
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * Writes an answer into the slot if it is still claimed ('unclaimed': its
 * client gave up, and nobody hears it), and retires the slot whatever
 * happened: one slot, one answer.
 */
export function answerThroughSlot(layout: SpoolLayout, token: string, answer: Buffer): Delivery | 'unclaimed' {
  try {
    return isSlotClaimed(layout, token) ? deliverAnswer(slotPath(layout, token), answer) : 'unclaimed';
  } finally {
    retireSlot(layout, token);
  }
}

/** Removes a slot's FIFO, then its claim: in this order (see above). */
function retireSlot(layout: SpoolLayout, token: string): void {
  for (const path of [slotPath(layout, token), slotClaimPath(layout, token)]) {
    try {
      unlinkSync(path);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}
