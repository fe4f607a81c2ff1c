package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// SignInRequests takes requests for sign-in links from the account page
// and queues the emails after the page has answered, so that the page
// does the same work, in the same time, whether or not the address is a
// customer's: it neither reads nor writes the database, and its timing
// tells a visitor nothing.
//
// Requests wait in memory, in a bounded queue worked in order by Run, each
// no sooner than a moment after it was made, so that its work does not
// compete with delivering the answer (on a busy machine, a lookup and a
// commit running while the answer goes out would still show in its
// timing). A
// request that finds the queue full, or is still waiting when paidup
// stops (Run gives the waiting ones a few seconds), is lost: no email
// goes out, and the customer asks again. For a sign-in link that is the
// right trade; an email that is queued is as durable as any other.
type SignInRequests struct {
	store   *store.Store
	outbox  *Outbox
	log     *slog.Logger
	pending chan signInRequest
}

type signInRequest struct {
	email string
	at    time.Time // when it was made
}

// settle is how long after a request is made it is worked at the soonest.
// Under a flood the queue is older than that, and nothing waits.
const settle = 10 * time.Millisecond

// drainTimeout bounds how long Run works the waiting requests once paidup
// is stopping.
const drainTimeout = 5 * time.Second

// NewSignInRequests returns a queue of up to capacity requests, whose
// emails outbox queues in st.
func NewSignInRequests(st *store.Store, outbox *Outbox, log *slog.Logger, capacity int) *SignInRequests {
	return &SignInRequests{store: st, outbox: outbox, log: log, pending: make(chan signInRequest, capacity)}
}

// Ask requests a sign-in link for a normalised address. It never waits: it
// reports false if the queue is full and the request was dropped.
func (q *SignInRequests) Ask(email string) bool {
	select {
	case q.pending <- signInRequest{email: email, at: time.Now()}:
		return true
	default:
		return false
	}
}

// Run queues the requested emails until ctx ends, then those still
// waiting, for a few seconds.
func (q *SignInRequests) Run(ctx context.Context) {
	for {
		if ctx.Err() != nil {
			q.drain(context.WithoutCancel(ctx))
			return
		}
		select {
		case req := <-q.pending:
			if wait := time.Until(req.at.Add(settle)); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
			// A request taken is worked whole, even if paidup is stopping
			// meanwhile.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			q.handle(hctx, req.email)
			cancel()
		case <-ctx.Done():
		}
	}
}

func (q *SignInRequests) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case req := <-q.pending:
			q.handle(ctx, req.email)
		default:
			return
		}
	}
}

// handle queues a sign-in email if the address is a customer's: a new
// link each time, up to the Outbox's limit in each window (QueueSignIn).
func (q *SignInRequests) handle(ctx context.Context, email string) {
	c, err := q.store.CustomerByEmail(ctx, email)
	if paidup.ErrorCode(err) == paidup.ENOTFOUND {
		return
	}
	if err == nil {
		err = q.store.InTx(ctx, func(tx *store.Tx) error {
			_, err := q.outbox.QueueSignIn(ctx, tx, c.ID, c.Email)
			return err
		})
	}
	if err != nil {
		q.log.Warn("queueing a sign-in email failed; the customer can ask again", "err", err)
	}
}
