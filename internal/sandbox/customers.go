package sandbox

import (
	"net/mail"
	"reflect"
	"strings"
)

// get finds the object of type T with the given id, or answers Stripe's
// "No such …" error naming param.
func get[T Object](s *Sandbox, id, name, param string) (T, error) {
	o, ok := s.objects[id].(T)
	if !ok {
		var zero T
		return zero, errNoSuch(name, id, param)
	}
	return o, nil
}

type customerParams struct {
	Email           *string           `form:"email"`
	Name            *string           `form:"name"`
	Description     *string           `form:"description"`
	Phone           *string           `form:"phone"`
	Metadata        map[string]string `form:"metadata"`
	PaymentMethod   *string           `form:"payment_method"`
	InvoiceSettings *struct {
		DefaultPaymentMethod *string `form:"default_payment_method"`
	} `form:"invoice_settings"`
	TestClock *string  `form:"test_clock"`
	Expand    []string `form:"expand"`
}

func (p *customerParams) validate() error {
	if p.Email != nil && *p.Email != "" {
		if a, err := mail.ParseAddress(*p.Email); err != nil || a.Address != *p.Email {
			return invalidRequest("email", "Invalid email address: %s", *p.Email)
		}
	}
	return nil
}

func (s *Sandbox) createCustomer(c *call) (any, error) {
	var p customerParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.TestClock != nil {
		if _, err := get[*TestClock](s, *p.TestClock, "test clock", "test_clock"); err != nil {
			return nil, err
		}
	}
	if p.TestClock != nil && *p.TestClock != DefaultClock {
		c.t.now = s.timeOn(p.TestClock) // a customer lives by its clock
	}
	cu := c.t.newCustomer(deref(p.Email), deref(p.Name))
	cu.Description = optional(deref(p.Description))
	cu.Phone = optional(deref(p.Phone))
	if p.TestClock != nil && *p.TestClock != DefaultClock {
		cu.TestClock = p.TestClock
	}
	mergeMetadata(&cu.Metadata, p.Metadata)
	c.t.emit("customer.created", cu, nil)
	if p.PaymentMethod != nil {
		if _, err := c.t.attach(*p.PaymentMethod, cu); err != nil {
			return nil, err
		}
	}
	if p.InvoiceSettings != nil && p.InvoiceSettings.DefaultPaymentMethod != nil {
		if err := c.t.setDefaultPaymentMethod(cu, *p.InvoiceSettings.DefaultPaymentMethod); err != nil {
			return nil, err
		}
		c.t.put(cu)
	}
	return c.object(cu)
}

func (t *txn) newCustomer(email, name string) *Customer {
	cu := &Customer{
		meta:            meta{ID: newID("cus"), Object: "customer", Created: t.now.Unix()},
		Email:           optional(email),
		Name:            optional(name),
		InvoicePrefix:   strings.ToUpper(newID("x")[2:10]),
		Metadata:        Metadata{},
		NextInvoiceSeq:  1,
		PreferredLocale: []string{},
		TaxExempt:       "none",
	}
	t.put(cu)
	return cu
}

func (s *Sandbox) getCustomer(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	id := c.r.PathValue("id")
	if d, ok := s.objects[id].(*deletedCustomer); ok {
		return s.render(d), nil
	}
	cu, err := get[*Customer](s, id, "customer", "id")
	if err != nil {
		return nil, err
	}
	return c.object(cu)
}

func (s *Sandbox) updateCustomer(c *call) (any, error) {
	var p customerParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	cu, err := get[*Customer](s, c.r.PathValue("id"), "customer", "id")
	if err != nil {
		return nil, err
	}
	if p.TestClock != nil {
		return nil, invalidRequest("test_clock", "Received unknown parameter: test_clock")
	}
	if p.PaymentMethod != nil {
		return nil, invalidRequest("payment_method", "Received unknown parameter: payment_method")
	}
	before := s.render(cu)
	if p.InvoiceSettings != nil && p.InvoiceSettings.DefaultPaymentMethod != nil {
		if err := c.t.setDefaultPaymentMethod(cu, *p.InvoiceSettings.DefaultPaymentMethod); err != nil {
			return nil, err
		}
	}
	if p.Email != nil {
		cu.Email = optional(*p.Email)
	}
	if p.Name != nil {
		cu.Name = optional(*p.Name)
	}
	if p.Description != nil {
		cu.Description = optional(*p.Description)
	}
	if p.Phone != nil {
		cu.Phone = optional(*p.Phone)
	}
	mergeMetadata(&cu.Metadata, p.Metadata)
	c.t.changed("customer.updated", cu, before)
	return c.object(cu)
}

// deletedCustomer stands in for a deleted customer, as Stripe keeps one.
type deletedCustomer struct {
	DeletedObject
	CreatedAt int64 `json:"_created"`
}

func (d *deletedCustomer) objectID() string   { return d.ID }
func (d *deletedCustomer) objectType() string { return "deleted_customer" }
func (d *deletedCustomer) createdAt() int64   { return d.CreatedAt }

func (s *Sandbox) deleteCustomer(c *call) (any, error) {
	cu, err := get[*Customer](s, c.r.PathValue("id"), "customer", "id")
	if err != nil {
		return nil, err
	}
	c.t.emit("customer.deleted", cu, nil)
	d := &deletedCustomer{DeletedObject: DeletedObject{ID: cu.ID, Object: "customer", Deleted: true}, CreatedAt: cu.Created}
	c.t.put(d)
	return s.render(d), nil
}

func (s *Sandbox) listCustomers(c *call) (any, error) {
	var p struct {
		listParams
		Email *string `form:"email"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("customer", "/v1/customers", p.listParams, func(o Object) bool {
		cu, ok := o.(*Customer)
		return ok && (p.Email == nil || deref(cu.Email) == *p.Email)
	})
}

// mergeMetadata applies a metadata parameter as Stripe does: keys set to ""
// are removed, and metadata="" clears every key.
func mergeMetadata(dst *Metadata, update map[string]string) {
	if update == nil {
		return
	}
	if *dst == nil || len(update) == 0 {
		*dst = Metadata{}
	}
	for k, v := range update {
		if v == "" {
			delete(*dst, k)
		} else {
			(*dst)[k] = v
		}
	}
}

// changed records an update of o: previous_attributes are the top-level
// fields whose values differ from before.
func (t *txn) changed(eventType string, o Object, before map[string]any) {
	after := t.s.render(o)
	prev := map[string]any{}
	for k, v := range before {
		if !reflect.DeepEqual(v, after[k]) {
			prev[k] = v
		}
	}
	t.put(o)
	if len(prev) > 0 {
		t.emit(eventType, o, prev)
	}
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// retrieve is the API's handler that returns the object of type T named
// by the path's {id} (expanded as asked), or Stripe's "No such …" error
// naming it name and the parameter param.
func retrieve[T Object](s *Sandbox, name, param string) func(*call) (any, error) {
	return func(c *call) (any, error) {
		var p struct {
			Expand []string `form:"expand"`
		}
		if err := c.decode(&p); err != nil {
			return nil, err
		}
		o, err := get[T](s, c.r.PathValue("id"), name, param)
		if err != nil {
			return nil, err
		}
		return c.object(o)
	}
}
