package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/hibiken/asynq"
)

// Queue names, before the namespace is put in front.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Task types.
const (
	// TypePing is a no-op task every worker answers ("pong"). pushgate
	// itself never enqueues it; a test or an operator's tool may, to see
	// that a worker takes tasks.
	TypePing = "system:ping"
)

// QueueOptions configures the enqueuing side.
type QueueOptions struct {
	// Redis is the connection the queue lives in.
	Redis asynq.RedisConnOpt
	// Namespace prefixes queue names ("pushgate" gives "pushgate:default").
	Namespace string
}

// Queue enqueues tasks.
type Queue struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	ns        string
}

// NewQueue returns a Queue; Close releases its connections.
func NewQueue(opts QueueOptions) *Queue {
	return &Queue{client: asynq.NewClient(opts.Redis), inspector: asynq.NewInspector(opts.Redis), ns: opts.Namespace}
}

// Queues are the (not yet namespaced) names of the queues, in order.
func Queues() []string { return []string{QueueCritical, QueueDefault, QueueLow} }

// Info returns the sizes of each of Queues, by name; a queue no task was
// ever put on is empty. It costs a few Redis commands per queue, whatever
// their sizes (asynq samples what it measures).
func (q *Queue) Info() (map[string]*asynq.QueueInfo, error) {
	existing, err := q.inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	out := map[string]*asynq.QueueInfo{}
	for _, name := range Queues() {
		out[name] = &asynq.QueueInfo{Queue: q.Name(name)}
		if !slices.Contains(existing, q.Name(name)) {
			continue
		}
		info, err := q.inspector.GetQueueInfo(q.Name(name))
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
		out[name] = info
	}
	return out, nil
}

// Name returns the namespaced name of a queue.
func (q *Queue) Name(queue string) string { return q.ns + ":" + queue }

// Enqueue puts a task on the named (not yet namespaced) queue.
func (q *Queue) Enqueue(ctx context.Context, queue string, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	opts = append([]asynq.Option{asynq.Queue(q.Name(queue))}, opts...)
	info, err := q.client.EnqueueContext(ctx, task, opts...)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", task.Type(), err)
	}
	return info, nil
}

// Close releases the queue's connections.
func (q *Queue) Close() error { return errors.Join(q.client.Close(), q.inspector.Close()) }

// slogAdapter lets asynq log through slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a slogAdapter) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a slogAdapter) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a slogAdapter) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a slogAdapter) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
