// Package sandbox is a Stripe-compatible payment processor for trying paidup
// without an account or the internet, and for testing paidup's real Stripe
// adapter end to end. It speaks the subset of the Stripe API that paidup uses,
// through the same URLs, parameters and JSON shapes, so that the official
// stripe-go SDK works against it unchanged. It serves a hosted checkout page
// that accepts Stripe's test cards, and it delivers signed webhooks with
// retries and injectable faults.
//
// Its state is kept in memory for speed and written through to its own
// database on every change, so it survives restarts. One process owns a
// sandbox database at a time.
package sandbox

import (
	"container/heap"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations are the sandbox's tables, prefixed sandbox_ so that the sandbox
// may share a database with paidup in tests.
var Migrations = sqldb.Migrations{
	Table:    "sandbox_schema_version",
	SQLite:   mustSub(migrationFiles, "migrations/sqlite"),
	Postgres: mustSub(migrationFiles, "migrations/postgres"),
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Options configure a sandbox.
type Options struct {
	// DB keeps the sandbox's state. New migrates it. Without one the
	// state is in memory only, gone when the process ends, and a change
	// that fails part-way is not undone: for a load test's stand-in,
	// whose durability is not what is measured.
	DB *sqldb.DB
	// BaseURL is how browsers and webhook consumers reach the sandbox, e.g.
	// http://127.0.0.1:8081. Checkout session URLs are built from it.
	BaseURL string
	// Business is the merchant name shown on the checkout page.
	Business string
	// Prices are created (or brought up to date) at start, with their
	// products, so that a configuration's price ids exist.
	Prices []SeedPrice
	// Endpoints are webhook endpoints created (or updated) at start.
	Endpoints []EndpointConfig
	// RetrySchedule is the delay before each retry of a failed webhook
	// delivery; after the last, the delivery has failed.
	RetrySchedule []time.Duration
	// Faults replace the fault rules at start when not nil.
	Faults []Fault
	// Now is the wall clock under the sandbox's default test clock
	// (clock_sandbox), whose time is Now plus the durable offset it has been
	// advanced by; it defaults to time.Now. Created timestamps, expiry and
	// billing follow the default clock; webhook signatures and retries,
	// and idempotency keys, use Now itself.
	Now func() time.Time
	// Dunning is what happens when a subscription's renewal payment fails.
	Dunning Dunning
	// APIVersion stamps events; defaults to stripe-go's pinned version, which
	// its webhook.ConstructEvent requires.
	APIVersion string
	Logger     *slog.Logger
	// Client delivers webhooks; defaults to a client with a 10 s timeout
	// that does not follow redirects.
	Client *http.Client
	// Links are other pages served beside the sandbox (the local
	// mailbox), shown in its console.
	Links []Link
	// DeliveryConcurrency is how many webhook deliveries may be under way
	// at once. With 0 or 1 they go out one at a time, in the order they
	// became due; with more they overlap, as Stripe's do, and may arrive
	// in another order.
	DeliveryConcurrency int
}

// Link is a page the console links to.
type Link struct {
	Name, URL string
}

// SeedPrice is a price to create at start.
type SeedPrice struct {
	ID          string
	ProductName string
	Description string
	Amount      int64
	Currency    string
	Interval    string // "" for one-time, else month or year
}

// EndpointConfig is a webhook endpoint to create at start, identified by
// URL. Events lists the event types to send; empty means all.
type EndpointConfig struct {
	URL    string
	Secret string
	Events []string
}

// Sandbox is a running sandbox processor. Its methods are safe for
// concurrent use.
type Sandbox struct {
	opts   Options
	db     *sqldb.DB
	log    *slog.Logger
	client *http.Client
	// offset is how far the default clock is ahead of opts.Now, in
	// nanoseconds; kept durably on the clock_sandbox object.
	offset atomic.Int64
	wake   chan struct{}

	mu      sync.Mutex
	objects map[string]Object   // by id
	byType  map[string][]string // ids of each object type, oldest first
	pos     map[string]int      // index of an id in its byType list
	seqs    map[string]int64    // sequence number of each id, in creation order
	seq     int64               // last sequence number given
	// unordered holds the types whose objects were not all created in
	// order of their created times (a business clock set back), so that
	// a list cannot stop at the first one created before its range.
	unordered map[string]bool
	// deliveriesOf lists the webhook deliveries of each event.
	deliveriesOf map[string][]string
	// pending holds the ids of deliveries waiting to be attempted.
	pending map[string]bool
	// inflight holds the ids of pending deliveries being attempted now.
	inflight map[string]bool
	// due orders the pending deliveries by when they are due; an entry
	// whose delivery has since changed is passed over when it comes up.
	due dueQueue
	// openSessions holds the ids of checkout sessions that may still expire.
	openSessions map[string]bool
	// sessionOfPayment maps a payment intent to the checkout session it
	// was paid through, as Stripe indexes it for listing sessions by
	// payment_intent.
	sessionOfPayment map[string]string
	// faults are the fault rules in force.
	faults *faultSet
	// billable holds the ids of subscriptions that have not ended, of
	// invoices with a next payment attempt and of refunds that are to
	// fail: the billing work a clock may make due.
	billable map[string]bool
}

// New opens a sandbox on opts.DB, migrating it and loading its state.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.APIVersion == "" {
		opts.APIVersion = stripe.APIVersion
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = max(2, opts.DeliveryConcurrency)
		opts.Client = &http.Client{
			Transport:     transport,
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.RetrySchedule == nil {
		opts.RetrySchedule = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}
	}
	opts.Dunning = opts.Dunning.withDefaults()
	if opts.Business == "" {
		opts.Business = "paidup sandbox"
	}
	s := &Sandbox{
		opts:   opts,
		db:     opts.DB,
		log:    opts.Logger,
		client: opts.Client,
		wake:   make(chan struct{}, 1),
		// Not part of load: a reload keeps what is being attempted.
		inflight: map[string]bool{},
	}
	if s.db != nil {
		err := s.db.WithMigrationLock(ctx, func() error {
			_, err := s.db.Migrate(ctx, Migrations)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	// Billing that fell due while the sandbox was stopped.
	if err := s.update(ctx, nil, func(t *txn) error { return t.runBilling(DefaultClock, t.now) }); err != nil {
		return nil, err
	}
	if err := s.pruneIdempotencyKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// pruneIdempotencyKeys forgets idempotency keys older than Stripe keeps
// them (24 hours), so that their records do not pile up.
func (s *Sandbox) pruneIdempotencyKeys(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := s.opts.Now().Add(-24 * time.Hour).Unix()
	var expired []string
	for id, o := range s.objects {
		if r, ok := o.(*idempotencyRecord); ok && r.Created < cutoff {
			expired = append(expired, id)
		}
	}
	if len(expired) == 0 {
		return nil
	}
	if s.db == nil {
		for _, id := range expired {
			delete(s.objects, id)
			delete(s.seqs, id)
		}
		return nil
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, id := range expired {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sandbox_objects WHERE id = $1`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pruning idempotency keys: %w", err)
	}
	for _, id := range expired {
		delete(s.objects, id)
		delete(s.seqs, id)
	}
	return nil
}

// load reads every stored object into memory, replacing what is there.
func (s *Sandbox) load(ctx context.Context) error {
	s.objects = map[string]Object{}
	s.byType = map[string][]string{}
	s.pos = map[string]int{}
	s.seqs = map[string]int64{}
	s.deliveriesOf = map[string][]string{}
	s.pending = map[string]bool{}
	s.due = nil
	s.openSessions = map[string]bool{}
	s.sessionOfPayment = map[string]string{}
	s.unordered = map[string]bool{}
	s.faults = &faultSet{}
	s.billable = map[string]bool{}
	s.offset.Store(0)
	s.seq = 0
	if s.db == nil {
		return nil // in memory: nothing stored to read
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, object, seq, data FROM sandbox_objects ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("loading sandbox state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, typ string
		var seq int64
		var data []byte
		if err := rows.Scan(&id, &typ, &seq, &data); err != nil {
			return fmt.Errorf("loading sandbox state: %w", err)
		}
		o, err := decodeObject(typ, data)
		if err != nil {
			return fmt.Errorf("loading sandbox object %s: %w", id, err)
		}
		s.seqs[id] = seq
		s.index(o)
		s.seq = max(s.seq, seq)
	}
	return rows.Err()
}

// index adds a loaded or new object to the in-memory indexes.
func (s *Sandbox) index(o Object) {
	id, typ := o.objectID(), o.objectType()
	if _, ok := s.objects[id]; !ok && typ != objectIdempotency {
		if ids := s.byType[typ]; len(ids) > 0 && o.createdAt() < s.objects[ids[len(ids)-1]].createdAt() {
			s.unordered[typ] = true
		}
		s.pos[id] = len(s.byType[typ])
		s.byType[typ] = append(s.byType[typ], id)
		if d, ok := o.(*Delivery); ok {
			s.deliveriesOf[d.Event] = append(s.deliveriesOf[d.Event], id)
		}
	}
	s.objects[id] = o
	s.track(o)
}

// track keeps the indexes that depend on an object's state up to date.
func (s *Sandbox) track(o Object) {
	switch o := o.(type) {
	case *Delivery:
		if o.Status == deliveryPending {
			s.pending[o.ID] = true
			heap.Push(&s.due, dueEntry{at: o.NextAt, seq: s.seqs[o.ID], id: o.ID})
		} else {
			delete(s.pending, o.ID)
		}
	case *CheckoutSession:
		if o.Status == "open" {
			s.openSessions[o.ID] = true
		} else {
			delete(s.openSessions, o.ID)
		}
		if o.PaymentIntent != nil {
			s.sessionOfPayment[*o.PaymentIntent] = o.ID
		}
	case *faultSet:
		s.faults = o
	case *TestClock:
		if o.ID == DefaultClock {
			s.offset.Store(o.Offset)
		}
	case *Subscription:
		setMember(s.billable, o.ID, o.Status != "canceled" && o.Status != "incomplete_expired")
	case *Invoice:
		setMember(s.billable, o.ID, o.NextPaymentAttempt != nil)
	case *Refund:
		setMember(s.billable, o.ID, o.FailsAt != 0)
	}
}

func setMember(set map[string]bool, id string, in bool) {
	if in {
		set[id] = true
	} else {
		delete(set, id)
	}
}

// decodeObject turns a stored document back into its typed object.
func decodeObject(typ string, data []byte) (Object, error) {
	var o Object
	switch typ {
	case "customer":
		o = new(Customer)
	case "deleted_customer":
		o = new(deletedCustomer)
	case "product":
		o = new(Product)
	case "price":
		o = new(Price)
	case "checkout.session":
		o = new(CheckoutSession)
	case "payment_intent":
		o = new(PaymentIntent)
	case "payment_method":
		o = new(PaymentMethod)
	case "charge":
		o = new(Charge)
	case "refund":
		o = new(Refund)
	case "event":
		o = new(Event)
	case "webhook_endpoint":
		o = new(WebhookEndpoint)
	case "deleted_webhook_endpoint":
		o = new(deletedEndpoint)
	case objectDelivery:
		o = new(Delivery)
	case objectIdempotency:
		o = new(idempotencyRecord)
	case objectFaults:
		o = new(faultSet)
	case "test_helpers.test_clock":
		o = new(TestClock)
	case "deleted_test_helpers.test_clock":
		o = new(deletedClock)
	case "subscription":
		o = new(Subscription)
	case "invoice":
		o = new(Invoice)
	case "dispute":
		o = new(Dispute)
	case "billing_portal.session":
		o = new(PortalSession)
	case "payment_link":
		o = new(PaymentLink)
	default:
		return nil, fmt.Errorf("unknown object type %q", typ)
	}
	if err := json.Unmarshal(data, o); err != nil {
		return nil, err
	}
	return o, nil
}

// txn is one change to the sandbox's state: the objects it touched are
// written to the database together, or not at all.
type txn struct {
	s     *Sandbox
	now   time.Time
	dirty []Object
	seen  map[string]bool
	// request is the API request making the change, named in events.
	request *EventRequest
	emitted bool
}

// update runs fn on the state under the lock and persists what it touched.
// If persisting fails, the in-memory state is reloaded from the database so
// that memory never holds what the database does not.
func (s *Sandbox) update(ctx context.Context, req *EventRequest, fn func(t *txn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updateLocked(ctx, req, fn)
}

func (s *Sandbox) updateLocked(ctx context.Context, req *EventRequest, fn func(t *txn) error) error {
	t := &txn{s: s, now: s.now(), seen: map[string]bool{}, request: req}
	fnErr := fn(t)
	if len(t.dirty) == 0 {
		return fnErr
	}
	if fnErr != nil && !kept(fnErr) {
		if s.db == nil {
			// Nothing stored to go back to.
			s.log.Warn("sandbox: a failed change touched state held in memory only; kept as it is", "err", fnErr)
			return fnErr
		}
		// The change failed part-way: forget what it did in memory.
		s.log.Warn("sandbox: a failed change touched state; reloading", "err", fnErr)
		if err := s.load(context.WithoutCancel(ctx)); err != nil {
			s.log.Error("sandbox: reloading state failed", "err", err)
		}
		return fnErr
	}
	if err := s.persist(ctx, t.dirty); err != nil {
		s.log.Error("sandbox: persisting state failed; reloading", "err", err)
		if lerr := s.load(context.WithoutCancel(ctx)); lerr != nil {
			s.log.Error("sandbox: reloading state failed", "err", lerr)
		}
		return err
	}
	if t.emitted {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return fnErr
}

// put records o as changed in this transaction, giving new objects their
// place in creation order.
func (t *txn) put(o Object) {
	id := o.objectID()
	if !t.seen[id] {
		t.seen[id] = true
		t.dirty = append(t.dirty, o)
	}
	if _, exists := t.s.objects[id]; !exists {
		t.s.seq++
		t.s.seqs[id] = t.s.seq
		t.s.index(o)
		return
	}
	t.s.objects[id] = o
	t.s.track(o)
}

func (s *Sandbox) persist(ctx context.Context, objs []Object) error {
	if s.db == nil {
		return nil
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, o := range objs {
			data, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("encoding %s: %w", o.objectID(), err)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO sandbox_objects (id, object, seq, data) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO UPDATE SET object = excluded.object, data = excluded.data`,
				o.objectID(), o.objectType(), s.seqs[o.objectID()], data)
			if err != nil {
				return fmt.Errorf("storing %s: %w", o.objectID(), err)
			}
		}
		return nil
	})
}
