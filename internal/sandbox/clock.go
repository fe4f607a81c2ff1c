package sandbox

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/paidup/paidup/internal/sqldb"
)

// DefaultClock is the id of the sandbox's own test clock. Unlike the test
// clocks made through the API it runs: its time is the wall clock plus an
// offset that advancing it adds to. Every customer not attached to another
// test clock, and everything without a customer, follows it.
const DefaultClock = "clock_sandbox"

// TestClock is a Stripe test clock: a time that customers attached to it,
// and their subscriptions and invoices, live by.
type TestClock struct {
	meta
	DeletesAfter  int64              `json:"deletes_after"`
	FrozenTime    int64              `json:"frozen_time"`
	Name          *string            `json:"name"`
	Status        string             `json:"status"`
	StatusDetails clockStatusDetails `json:"status_details"`
	// Offset is how far the default clock runs ahead of the wall clock,
	// in nanoseconds.
	Offset int64 `json:"_offset,omitempty"`
}

type clockStatusDetails struct {
	Advancing *struct {
		TargetFrozenTime int64 `json:"target_frozen_time"`
	} `json:"advancing,omitempty"`
}

// deletedClock stands in for a deleted test clock.
type deletedClock struct {
	DeletedObject
	CreatedAt int64 `json:"_created"`
}

func (d *deletedClock) objectID() string   { return d.ID }
func (d *deletedClock) objectType() string { return "deleted_test_helpers.test_clock" }
func (d *deletedClock) createdAt() int64   { return d.CreatedAt }

// now is the time of the default clock.
func (s *Sandbox) now() time.Time {
	return s.opts.Now().Add(time.Duration(s.offset.Load()))
}

// Now is the time of the sandbox's default test clock, clock_sandbox: the
// business time of everything that is not on another test clock. paidup
// uses it as its own clock in sandbox mode, so that advancing the clock
// moves both.
func (s *Sandbox) Now() time.Time { return s.now() }

// timeOn is the time of a test clock; nil or unknown means the default one.
func (s *Sandbox) timeOn(clock *string) time.Time {
	if tc, ok := s.objects[deref(clock)].(*TestClock); ok && tc.ID != DefaultClock {
		return time.Unix(tc.FrozenTime, 0)
	}
	return s.now()
}

// ensureDefaultClock creates the default clock on a new database.
func (t *txn) ensureDefaultClock() {
	if _, ok := t.s.objects[DefaultClock]; ok {
		return
	}
	t.put(&TestClock{
		meta:         meta{ID: DefaultClock, Object: "test_helpers.test_clock", Created: t.now.Unix()},
		DeletesAfter: t.now.AddDate(100, 0, 0).Unix(),
		FrozenTime:   t.now.Unix(),
		Name:         ptr("paidup sandbox (running)"),
		Status:       "ready",
	})
}

// clockView is a test clock as the API shows it: the default clock shows
// its current time.
func (s *Sandbox) clockView(tc *TestClock) *TestClock {
	if tc.ID != DefaultClock {
		return tc
	}
	c := *tc
	c.FrozenTime = s.now().Unix()
	return &c
}

func (s *Sandbox) createTestClock(c *call) (any, error) {
	var p struct {
		FrozenTime *int64   `form:"frozen_time"`
		Name       *string  `form:"name"`
		Expand     []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if p.FrozenTime == nil {
		return nil, invalidRequest("frozen_time", "Missing required param: frozen_time.")
	}
	if p.Name != nil && len(*p.Name) > 300 {
		return nil, invalidRequest("name", "Invalid string: name must be at most 300 characters")
	}
	tc := &TestClock{
		meta:         meta{ID: newID("clock"), Object: "test_helpers.test_clock", Created: c.t.now.Unix()},
		DeletesAfter: c.t.now.AddDate(0, 0, 30).Unix(),
		FrozenTime:   *p.FrozenTime,
		Name:         optional(deref(p.Name)),
		Status:       "ready",
	}
	c.t.put(tc)
	c.t.emit("test_helpers.test_clock.created", tc, nil)
	return c.object(tc)
}

func (s *Sandbox) getTestClock(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	id := c.r.PathValue("id")
	if d, ok := s.objects[id].(*deletedClock); ok {
		return s.render(d), nil
	}
	tc, err := get[*TestClock](s, id, "test clock", "test_clock")
	if err != nil {
		return nil, err
	}
	return c.object(s.clockView(tc))
}

func (s *Sandbox) listTestClocks(c *call) (any, error) {
	var p listParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	out, err := c.list("test_helpers.test_clock", "/v1/test_helpers/test_clocks", p, func(o Object) bool {
		_, ok := o.(*TestClock)
		return ok
	})
	if err != nil {
		return nil, err
	}
	// The default clock shows the time it is now, not when it was stored.
	for _, m := range out.(map[string]any)["data"].([]any) {
		if m := m.(map[string]any); m["id"] == DefaultClock {
			m["frozen_time"] = s.now().Unix()
		}
	}
	return out, nil
}

// deleteTestClock deletes a test clock with its customers, as Stripe does;
// their subscriptions end.
func (s *Sandbox) deleteTestClock(c *call) (any, error) {
	tc, err := get[*TestClock](s, c.r.PathValue("id"), "test clock", "test_clock")
	if err != nil {
		return nil, err
	}
	if tc.ID == DefaultClock {
		return nil, invalidRequest("test_clock", "The sandbox's own clock, %s, cannot be deleted; advance it instead.", DefaultClock)
	}
	t := c.t
	t.now = time.Unix(tc.FrozenTime, 0)
	for _, id := range s.byType["subscription"] {
		if sub := s.objects[id].(*Subscription); deref(sub.TestClock) == tc.ID && sub.Status != "canceled" {
			t.cancelSubscription(sub, "cancellation_requested")
		}
	}
	for _, id := range s.byType["customer"] {
		if cu, ok := s.objects[id].(*Customer); ok && deref(cu.TestClock) == tc.ID {
			t.emit("customer.deleted", cu, nil)
			t.put(&deletedCustomer{DeletedObject: DeletedObject{ID: cu.ID, Object: "customer", Deleted: true}, CreatedAt: cu.Created})
		}
	}
	d := &deletedClock{DeletedObject: DeletedObject{ID: tc.ID, Object: "test_helpers.test_clock", Deleted: true}, CreatedAt: tc.Created}
	t.emit("test_helpers.test_clock.deleted", tc, nil)
	t.put(d)
	return s.render(d), nil
}

// advanceTestClock moves a clock forward to frozen_time, doing all the
// billing that falls due on the way in the order it falls due. The work is
// done when the response comes, so the clock is ready again at once.
func (s *Sandbox) advanceTestClock(c *call) (any, error) {
	var p struct {
		FrozenTime *int64   `form:"frozen_time"`
		Expand     []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	tc, err := get[*TestClock](s, c.r.PathValue("id"), "test clock", "test_clock")
	if err != nil {
		return nil, err
	}
	if p.FrozenTime == nil {
		return nil, invalidRequest("frozen_time", "Missing required param: frozen_time.")
	}
	to := time.Unix(*p.FrozenTime, 0)
	if err := c.t.advance(tc, to); err != nil {
		return nil, err
	}
	return c.object(s.clockView(tc))
}

// advance moves a clock to a later time and runs the billing due by then.
func (t *txn) advance(tc *TestClock, to time.Time) error {
	s := t.s
	from := s.clockView(tc).FrozenTime
	if to.Unix() < from {
		return invalidRequest("frozen_time", "The test clock can only be advanced: frozen_time (%d) is before its current frozen_time (%d).", to.Unix(), from)
	}
	advancing := *tc
	advancing.Status = "advancing"
	advancing.StatusDetails.Advancing = &struct {
		TargetFrozenTime int64 `json:"target_frozen_time"`
	}{to.Unix()}
	t.emit("test_helpers.test_clock.advancing", s.clockView(&advancing), nil)
	if tc.ID == DefaultClock {
		tc.Offset = to.Sub(s.opts.Now()).Nanoseconds()
		s.offset.Store(tc.Offset)
		t.now = s.now()
	}
	if err := t.runBilling(tc.ID, to); err != nil {
		return err
	}
	tc.FrozenTime = to.Unix()
	t.put(tc)
	t.now = to
	t.emit("test_helpers.test_clock.ready", s.clockView(tc), nil)
	return nil
}

// maxBillingSteps bounds the billing one advance may do, so that a clock
// moved years ahead of a daily subscription answers in reasonable time.
const maxBillingSteps = 20000

// runBilling does, in order, every piece of billing work on a clock that
// is due by upTo: subscription periods ending (a renewal, or the end of a
// subscription cancelled at period end), invoice payment retries and
// refunds failing. Each
// runs at the time it fell due, so its objects and events are created then.
func (t *txn) runBilling(clock string, upTo time.Time) error {
	saved := t.now
	defer func() { t.now = saved }()
	for range maxBillingSteps {
		id, due, ok := t.s.nextBilling(clock)
		if !ok || due.After(upTo) {
			return nil
		}
		t.now = due
		switch o := t.s.objects[id].(type) {
		case *Subscription:
			t.endPeriod(o)
		case *Invoice:
			t.retryInvoice(o)
		case *Refund:
			t.failRefund(o)
		}
	}
	return &apiError{status: http.StatusBadRequest, body: APIErrorBody{Type: "invalid_request_error", Param: "frozen_time",
		Message: fmt.Sprintf("Advancing this far would do more than %d billing steps; advance in smaller steps.", maxBillingSteps)}}
}

// nextBilling finds the billing work on a clock that falls due first, and
// when.
func (s *Sandbox) nextBilling(clock string) (string, time.Time, bool) {
	var best string
	var at int64
	for id := range s.billable {
		due, on, ok := s.billingDue(s.objects[id])
		if !ok || on != clock {
			continue
		}
		if best == "" || due < at || due == at && s.seqs[id] < s.seqs[best] {
			best, at = id, due
		}
	}
	return best, time.Unix(at, 0), best != ""
}

// billingDue is when an object's next billing work falls due, and the
// clock it follows.
func (s *Sandbox) billingDue(o Object) (int64, string, bool) {
	switch o := o.(type) {
	case *Subscription:
		if o.Status == "canceled" || o.Status == "incomplete" || o.Status == "incomplete_expired" || len(o.Items.Data) == 0 {
			return 0, "", false
		}
		return o.Items.Data[0].CurrentPeriodEnd, cmp.Or(deref(o.TestClock), DefaultClock), true
	case *Invoice:
		if o.NextPaymentAttempt == nil {
			return 0, "", false
		}
		return *o.NextPaymentAttempt, cmp.Or(deref(o.TestClock), DefaultClock), true
	case *Refund:
		ch, ok := s.objects[deref(o.Charge)].(*Charge)
		if o.FailsAt == 0 || !ok {
			return 0, "", false
		}
		return o.FailsAt, s.chargeClock(ch), true
	}
	return 0, "", false
}

// runDueBilling does the default clock's billing that has fallen due as
// time passed.
func (s *Sandbox) runDueBilling(ctx context.Context) {
	err := s.update(ctx, nil, func(t *txn) error { return t.runBilling(DefaultClock, t.now) })
	if err != nil {
		s.log.Error("sandbox: running due billing failed", "err", err)
	}
}

// StoredNow is the time of the default clock, clock_sandbox, as the
// sandbox's records in db have it: for a command that runs beside the
// sandbox (or after it) and must live on its clock. A database the
// sandbox never ran on is on the wall clock.
func StoredNow(ctx context.Context, db *sqldb.DB) (func() time.Time, error) {
	ok, err := db.HasTable(ctx, "sandbox_objects")
	if err != nil {
		return nil, fmt.Errorf("reading the sandbox's clock: %w", err)
	}
	var data []byte
	if ok {
		err = db.Read.QueryRowContext(ctx, `SELECT data FROM sandbox_objects WHERE id = $1`, DefaultClock).Scan(&data)
	}
	if !ok || errors.Is(err, sql.ErrNoRows) {
		return time.Now, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the sandbox's clock: %w", err)
	}
	var tc TestClock
	if err := json.Unmarshal(data, &tc); err != nil {
		return nil, fmt.Errorf("reading the sandbox's clock: %w", err)
	}
	offset := time.Duration(tc.Offset)
	return func() time.Time { return time.Now().Add(offset) }, nil
}
