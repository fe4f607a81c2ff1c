package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

func (s *Sandbox) getEvent(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	ev, err := get[*Event](s, c.r.PathValue("id"), "event", "id")
	if err != nil {
		return nil, err
	}
	return s.render(ev), nil
}

func (s *Sandbox) listEvents(c *call) (any, error) {
	var p struct {
		listParams
		Type            *string  `form:"type"`
		Types           []string `form:"types"`
		DeliverySuccess *bool    `form:"delivery_success"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if p.Type != nil && p.Types != nil {
		return nil, invalidRequest("types", "You may only specify one of these parameters: type, types.")
	}
	if len(p.Types) > 20 {
		return nil, invalidRequest("types", "You may pass at most 20 event types.")
	}
	if len(p.Expand) > 0 {
		return nil, invalidRequest("expand", "This property cannot be expanded (%s).", p.Expand[0])
	}
	return c.list("event", "/v1/events", p.listParams, func(o Object) bool {
		ev := o.(*Event)
		if p.Type != nil && !typeMatches(*p.Type, ev.Type) {
			return false
		}
		if p.Types != nil && !slices.ContainsFunc(p.Types, func(t string) bool { return typeMatches(t, ev.Type) }) {
			return false
		}
		return p.DeliverySuccess == nil || (ev.PendingWebhooks == 0) == *p.DeliverySuccess
	})
}

// typeMatches matches an event type against a filter that may end in a
// wildcard, such as charge.* or checkout.session.*.
func typeMatches(filter, eventType string) bool {
	if prefix, ok := strings.CutSuffix(filter, "*"); ok {
		return strings.HasPrefix(eventType, prefix)
	}
	return filter == eventType
}

type webhookEndpointParams struct {
	URL           *string           `form:"url"`
	EnabledEvents []string          `form:"enabled_events"`
	Description   *string           `form:"description"`
	Disabled      *bool             `form:"disabled"`
	APIVersion    *string           `form:"api_version"`
	Metadata      map[string]string `form:"metadata"`
	Expand        []string          `form:"expand"`
}

func (s *Sandbox) createWebhookEndpoint(c *call) (any, error) {
	var p webhookEndpointParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if p.URL == nil || *p.URL == "" {
		return nil, invalidRequest("url", "Missing required param: url.")
	}
	if len(p.EnabledEvents) == 0 {
		return nil, invalidRequest("enabled_events", "Missing required param: enabled_events.")
	}
	if p.Disabled != nil {
		return nil, invalidRequest("disabled", "Received unknown parameter: disabled")
	}
	if !validURL(*p.URL) {
		return nil, invalidRequest("url", "Invalid URL: %s", *p.URL)
	}
	we := c.t.newEndpoint(*p.URL, newSecret(), p.EnabledEvents)
	we.Description = p.Description
	we.APIVersion = p.APIVersion
	mergeMetadata(&we.Metadata, p.Metadata)
	m := s.render(we)
	m["secret"] = we.Secret // shown once, when created
	return m, nil
}

func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + hex.EncodeToString(b)
}

func (t *txn) newEndpoint(url, secret string, events []string) *WebhookEndpoint {
	we := &WebhookEndpoint{
		meta:          meta{ID: newID("we"), Object: "webhook_endpoint", Created: t.now.Unix()},
		EnabledEvents: events,
		Metadata:      Metadata{},
		Secret:        secret,
		Status:        "enabled",
		URL:           url,
	}
	t.put(we)
	return we
}

// ensureEndpoint creates the configured endpoint or brings it up to date.
func (t *txn) ensureEndpoint(ec EndpointConfig) error {
	events := ec.Events
	if len(events) == 0 {
		events = []string{"*"}
	}
	for _, id := range t.s.byType["webhook_endpoint"] {
		we, ok := t.s.objects[id].(*WebhookEndpoint)
		if ok && we.URL == ec.URL {
			we.Secret, we.EnabledEvents, we.Status = ec.Secret, events, "enabled"
			t.put(we)
			return nil
		}
	}
	t.newEndpoint(ec.URL, ec.Secret, events)
	return nil
}

func (s *Sandbox) getWebhookEndpoint(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	we, err := get[*WebhookEndpoint](s, c.r.PathValue("id"), "webhook_endpoint", "webhook_endpoint")
	if err != nil {
		return nil, err
	}
	return s.render(we), nil
}

func (s *Sandbox) listWebhookEndpoints(c *call) (any, error) {
	var p listParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("webhook_endpoint", "/v1/webhook_endpoints", p, func(o Object) bool {
		_, ok := o.(*WebhookEndpoint)
		return ok
	})
}

func (s *Sandbox) updateWebhookEndpoint(c *call) (any, error) {
	var p webhookEndpointParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	we, err := get[*WebhookEndpoint](s, c.r.PathValue("id"), "webhook_endpoint", "webhook_endpoint")
	if err != nil {
		return nil, err
	}
	if p.URL != nil {
		if !validURL(*p.URL) {
			return nil, invalidRequest("url", "Invalid URL: %s", *p.URL)
		}
		we.URL = *p.URL
	}
	if p.EnabledEvents != nil {
		if len(p.EnabledEvents) == 0 {
			return nil, invalidRequest("enabled_events", "enabled_events must not be empty.")
		}
		we.EnabledEvents = p.EnabledEvents
	}
	if p.Description != nil {
		we.Description = optional(*p.Description)
	}
	if p.Disabled != nil {
		we.Status = "enabled"
		if *p.Disabled {
			we.Status = "disabled"
		}
	}
	mergeMetadata(&we.Metadata, p.Metadata)
	c.t.put(we)
	return s.render(we), nil
}

// deletedEndpoint stands in for a deleted webhook endpoint.
type deletedEndpoint struct {
	DeletedObject
	CreatedAt int64 `json:"_created"`
}

func (d *deletedEndpoint) objectID() string   { return d.ID }
func (d *deletedEndpoint) objectType() string { return "deleted_webhook_endpoint" }
func (d *deletedEndpoint) createdAt() int64   { return d.CreatedAt }

func (s *Sandbox) deleteWebhookEndpoint(c *call) (any, error) {
	we, err := get[*WebhookEndpoint](s, c.r.PathValue("id"), "webhook_endpoint", "webhook_endpoint")
	if err != nil {
		return nil, err
	}
	d := &deletedEndpoint{DeletedObject: DeletedObject{ID: we.ID, Object: "webhook_endpoint", Deleted: true}, CreatedAt: we.Created}
	c.t.put(d)
	return s.render(d), nil
}

// The sandbox's own controls, under /_sandbox, take and return JSON.

func (s *Sandbox) getFaults(c *call) (any, error) {
	return map[string]any{"faults": s.faultsLocked()}, nil
}

func (s *Sandbox) faultsLocked() []Fault {
	out := []Fault{}
	for _, r := range s.faults.Rules {
		f := *r
		f.Held = slices.Clone(r.Held)
		out = append(out, f)
	}
	return out
}

// setFaults replaces the fault rules with the JSON body's
// {"faults": [{"action": "drop", "event": "checkout.session.completed", "count": 1}]}.
func (s *Sandbox) setFaults(c *call) (any, error) {
	var body struct {
		Faults []Fault `json:"faults"`
	}
	// Unknown fields are refused: a misspelt "event" would otherwise make a
	// rule that matches every event.
	dec := json.NewDecoder(strings.NewReader(c.rawBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&body)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("unexpected data after the JSON object")
	}
	if err != nil {
		return nil, invalidRequest("faults", "Send JSON like {\"faults\": [{\"action\": \"drop\", \"event\": \"checkout.session.completed\", \"count\": 1}]}: %v", err)
	}
	if err := c.t.replaceFaults(body.Faults); err != nil {
		return nil, invalidRequest("faults", "%v", err)
	}
	return map[string]any{"faults": s.faultsLocked()}, nil
}

func (s *Sandbox) listDeliveries(c *call) (any, error) {
	var p struct {
		Event  *string `form:"event"`
		Status *string `form:"status"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	// Render copies under the lock: the delivery loop changes deliveries
	// while the response is being written.
	out := []any{}
	for _, id := range s.byType[objectDelivery] {
		d := s.objects[id].(*Delivery)
		if (p.Event == nil || d.Event == *p.Event) && (p.Status == nil || d.Status == *p.Status) {
			out = append(out, s.render(d))
		}
	}
	return map[string]any{"deliveries": out}, nil
}

func (s *Sandbox) retryDelivery(c *call) (any, error) {
	d, err := get[*Delivery](s, c.r.PathValue("id"), "webhook delivery", "id")
	if err != nil {
		return nil, err
	}
	c.t.retry(d)
	return s.render(d), nil
}
