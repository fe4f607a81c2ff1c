package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

const objectFaults = "sandbox.faults"

// Fault actions.
const (
	FaultDrop      = "drop"      // never deliver: the event is lost on the way
	FaultDuplicate = "duplicate" // deliver twice
	FaultDelay     = "delay"     // hold the delivery for Delay
	FaultReorder   = "reorder"   // hold Count deliveries, then send them newest first
)

// Fault is a rule that changes how webhooks are delivered, for trying out
// how their consumer copes with the internet's failures.
type Fault struct {
	Action string `json:"action"`
	// Event selects event types: an exact type, a prefix such as
	// "charge.*", or "*" (or empty) for all.
	Event string `json:"event,omitempty"`
	// Count is how many more deliveries the rule changes; 0 means every
	// matching delivery, for ever. A reorder rule holds Count deliveries.
	Count int      `json:"count,omitempty"`
	Delay Duration `json:"delay,omitempty"`
	// Held lists the deliveries a reorder rule is holding.
	Held []string `json:"held,omitempty"`
}

// Validate reports what is wrong with a rule, in words for its author.
func (f *Fault) Validate() error {
	switch f.Action {
	case FaultDrop, FaultDuplicate:
	case FaultDelay:
		if f.Delay <= 0 {
			return fmt.Errorf("a delay fault needs a positive delay, like \"30s\"")
		}
	case FaultReorder:
		if f.Count < 2 {
			return fmt.Errorf("a reorder fault needs a count of at least 2")
		}
	default:
		return fmt.Errorf("unknown fault action %q: want drop, duplicate, delay or reorder", f.Action)
	}
	if f.Count < 0 {
		return fmt.Errorf("count must not be negative")
	}
	if p := strings.TrimSuffix(f.Event, ".*"); p != "*" && strings.ContainsAny(p, "* ") {
		return fmt.Errorf("event %q: want an event type, a prefix such as charge.*, or *", f.Event)
	}
	return nil
}

func (f *Fault) matches(eventType string) bool {
	switch {
	case f.Event == "" || f.Event == "*":
		return true
	case strings.HasSuffix(f.Event, ".*"):
		return strings.HasPrefix(eventType, strings.TrimSuffix(f.Event, "*"))
	}
	return f.Event == eventType
}

// faultSet is the stored list of fault rules in force.
type faultSet struct {
	ID    string   `json:"id"`
	Rules []*Fault `json:"rules"`
}

func (f *faultSet) objectID() string   { return objectFaults }
func (f *faultSet) objectType() string { return objectFaults }
func (f *faultSet) createdAt() int64   { return 0 }

// apply lets the first matching rule change a new delivery.
func (f *faultSet) apply(t *txn, d *Delivery) {
	i := slices.IndexFunc(f.Rules, func(r *Fault) bool { return r.matches(d.Type) })
	if i < 0 {
		return
	}
	r := f.Rules[i]
	d.Fault = r.Action
	spent := r.Count == 1
	switch r.Action {
	case FaultDrop:
		d.Status = deliveryDropped
		d.NextAt = time.Time{}
	case FaultDuplicate:
		c := *d
		c.ID = newID("whdel")
		c.Copy = true
		c.NextAt = d.NextAt.Add(time.Millisecond)
		t.put(&c)
	case FaultDelay:
		d.NextAt = d.NextAt.Add(r.Delay.D())
	case FaultReorder:
		d.Status = deliveryHeld
		r.Held = append(r.Held, d.ID)
		spent = false
		if len(r.Held) >= r.Count {
			now := time.Now()
			for n, id := range slices.Backward(r.Held) {
				held, ok := t.s.objects[id].(*Delivery)
				if !ok || held.Status != deliveryHeld {
					continue // retried by hand meanwhile: sent already
				}
				held.Status = deliveryPending
				held.NextAt = now.Add(time.Duration(len(r.Held)-n) * time.Microsecond)
				t.put(held)
			}
			spent = true
		}
	}
	t.put(d)
	if r.Count > 1 && r.Action != FaultReorder {
		r.Count--
	}
	if spent {
		f.Rules = slices.Delete(f.Rules, i, i+1)
	}
	t.put(f)
}

// SetFaults replaces the fault rules.
func (s *Sandbox) SetFaults(ctx context.Context, rules []Fault) error {
	return s.update(ctx, nil, func(t *txn) error { return t.replaceFaults(rules) })
}

// replaceFaults validates and installs new fault rules. Deliveries held by a
// replaced reorder rule are released in their original order.
func (t *txn) replaceFaults(rules []Fault) error {
	for i := range rules {
		if err := rules[i].Validate(); err != nil {
			return fmt.Errorf("fault %d: %w", i+1, err)
		}
	}
	for _, r := range t.s.faults.Rules {
		for _, id := range r.Held {
			if d, ok := t.s.objects[id].(*Delivery); ok && d.Status == deliveryHeld {
				d.Status = deliveryPending
				d.NextAt = time.Now()
				t.put(d)
				t.emitted = true
			}
		}
	}
	set := &faultSet{ID: objectFaults}
	for _, r := range rules {
		r.Held = nil
		set.Rules = append(set.Rules, &r)
	}
	t.put(set)
	return nil
}

// Faults returns the fault rules in force.
func (s *Sandbox) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Fault
	for _, r := range s.faults.Rules {
		c := *r
		c.Held = slices.Clone(r.Held)
		out = append(out, c)
	}
	return out
}

// Duration is a time.Duration written in JSON as text, like "30s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration written as text ("30s") or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a duration like \"30s\"")
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration like \"30s\", not %q", s)
	}
	*d = Duration(v)
	return nil
}
