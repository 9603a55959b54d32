// Package delivery runs the work queue: asynq task types, the client that
// enqueues them (Queue), the worker that runs them (Worker), the Sender,
// the Deliverer, the recovery sweep and the periodic maintenance task.
// Redis only carries work; the database stays the source of truth, so
// whatever Redis loses is found again by the sweep.
//
// The Sender checks each receiver against its credential and the
// receivers before it (Check answers that alone, storing nothing), cuts
// the accepted ones of each credential into chunks (ChunkSize, 500) and
// gives each chunk a pushgate.NewIDGroup: ids that share their IDGroup, so
// storage can keep a chunk as one record. It stores the messages in one
// Insert and enqueues one TypeSend task per chunk; the send is answered
// once they are committed (an enqueue that fails is left to the sweep).
// Another node can make the same IDGroup in the same millisecond: Insert
// then fails with messages.ErrIDTaken and stores nothing, and the Sender
// calls pushgate.SkipIDGroups (a random counter a millisecond on, away
// from the other node's next groups) and makes new ids, up to three tries.
//
// The Deliverer claims a task's messages (leased for Lease), sends them
// through the credential's provider (one per credential, pooled and
// closed when idle) with bounded concurrency (a provider that is a
// providers.BatchSender gets them in groups of its MaxBatch, and answers
// for each; one it leaves unanswered is retried), and stores results with
// Finish as they come, in batches of up to 500 at least once a second; a
// retry goes back on the queue as one task after the longest backoff its
// messages were told. The claim bound: a message claimed with MaxAttempts
// attempts behind it (claims that ended without a stored result, as when
// a worker died, or retries stored under a higher limit) is failed as
// unavailable without being sent, with a warning. A batch of results the
// database refuses for their data (messages.ErrUnstorable) is halved until
// the refused result is alone; the others are stored as they are, and that
// one is stored final with its texts made storable
// (messages.StorableText), reason unstorable and a fixed last error, the
// database's own words going to the log only (tenants read last errors).
// A result refused even so is logged and left claimed: its lease, the
// sweep and the claim bound end its sending.
//
// Sweep enqueues again queued messages long past due and those whose
// lease ended, in chunks that end where an IDGroup ends, so a chunk goes
// out whole again. Maintenance runs the periodic jobs its caller gives it:
// the shared ones (the sweep, bucket expiry, ...) once per interval across
// all nodes, the local ones (closing idle providers) on every node. The
// Worker and Maintenance run from Start(ctx) until Shutdown(ctx), which
// waits no longer than ctx.
//
// A send task whose context's images are still processing waits and runs
// again a second later; meanwhile it asks Options.Images (an ImageJobs,
// which imagejobs implements) to make sure their processing is queued.
//
// Queue names carry a namespace, so several installations (or parallel
// test runs) can share one Redis without taking each other's tasks.
//
// delivery never writes the database itself: it goes through
// messages.Store and the other domain stores, and never answers HTTP.
package delivery
