// Package delivery runs the work queue: asynq task types, the client that
// enqueues them and the worker that handles them. Redis only carries work;
// the database stays the source of truth, so whatever Redis loses is found
// again by the recovery sweep (added with the delivery pipeline).
//
// Queue names carry a namespace, so several installations (or parallel
// test runs) can share one Redis without taking each other's tasks.
package delivery
