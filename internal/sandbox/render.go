package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/paidup/paidup/internal/sandbox/form"
)

// render returns o as the API shows it: its JSON without the sandbox's
// private fields.
func (s *Sandbox) render(o any) map[string]any {
	data, err := json.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("sandbox: encoding %T: %v", o, err))
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		panic(fmt.Sprintf("sandbox: decoding %T: %v", o, err))
	}
	for k := range m {
		if strings.HasPrefix(k, "_") {
			delete(m, k)
		}
	}
	return m
}

func (s *Sandbox) renderJSON(o any) json.RawMessage {
	data, err := json.Marshal(s.render(o))
	if err != nil {
		panic(err)
	}
	return data
}

// expandable lists, for each object type, the fields that hold the id of
// another object and may be expanded into it.
var expandable = map[string][]string{
	"checkout.session": {"customer", "payment_intent", "invoice", "subscription", "line_items", "setup_intent", "payment_link"},
	"payment_intent":   {"customer", "latest_charge", "payment_method", "invoice", "review", "application", "on_behalf_of"},
	"charge":           {"customer", "payment_intent", "invoice", "balance_transaction", "review", "application", "application_fee", "on_behalf_of", "source_transfer", "failure_balance_transaction", "refunds"},
	"refund":           {"charge", "payment_intent", "balance_transaction", "failure_balance_transaction", "source_transfer_reversal", "transfer_reversal"},
	"customer":         {"default_source", "test_clock"},
	"price":            {"product"},
	"product":          {"default_price"},
	"payment_method":   {"customer"},
	"subscription":     {"customer", "default_payment_method", "latest_invoice", "test_clock"},
	"invoice":          {"customer", "default_payment_method", "test_clock", "payments"},
	"dispute":          {"charge", "payment_intent"},
	"payment_link":     {"line_items"},
}

// object renders o with the expansions the request asked for (expand[]).
func (c *call) object(o Object) (any, error) {
	m := c.s.render(o)
	if err := c.s.expand(m, expandPaths(c.params), 0); err != nil {
		return nil, err
	}
	return m, nil
}

func expandPaths(v form.Values) []string {
	list, _ := v["expand"].([]any)
	var out []string
	for _, p := range list {
		if s, ok := p.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// expand replaces ids with the objects they name, for each dotted path.
func (s *Sandbox) expand(m map[string]any, paths []string, depth int) error {
	if len(paths) == 0 {
		return nil
	}
	if depth > 3 {
		return invalidRequest("expand", "You cannot expand more than 4 levels of a property.")
	}
	groups := map[string][]string{}
	var order []string
	for _, p := range paths {
		head, rest, _ := strings.Cut(p, ".")
		if _, ok := groups[head]; !ok {
			order = append(order, head)
		}
		groups[head] = append(groups[head], rest)
	}
	typ, _ := m["object"].(string)
	for _, field := range order {
		if !slices.Contains(expandable[typ], field) {
			return invalidRequest("expand", "This property cannot be expanded (%s).", field)
		}
		var sub []string
		for _, r := range groups[field] {
			if r != "" {
				sub = append(sub, r)
			}
		}
		if typ == "checkout.session" && field == "line_items" {
			cs := s.objects[m["id"].(string)].(*CheckoutSession)
			m[field] = s.lineItemList(cs.LineItems, "/v1/checkout/sessions/"+cs.ID+"/line_items", 10, "", "")
			continue
		}
		if typ == "payment_link" && field == "line_items" {
			pl := s.objects[m["id"].(string)].(*PaymentLink)
			m[field] = s.lineItemList(pl.LineItems, "/v1/payment_links/"+pl.ID+"/line_items", 10, "", "")
			continue
		}
		if typ == "charge" && field == "refunds" {
			m[field] = s.chargeRefunds(m["id"].(string))
			continue
		}
		if typ == "invoice" && field == "payments" {
			inv := s.objects[m["id"].(string)].(*Invoice)
			m[field] = s.invoicePaymentList(inv)
			continue
		}
		id, ok := m[field].(string)
		if !ok {
			continue // null, or already expanded
		}
		target, ok := s.objects[id]
		if !ok {
			continue
		}
		tm := s.render(target)
		if err := s.expand(tm, sub, depth+1); err != nil {
			return err
		}
		m[field] = tm
	}
	return nil
}

// listParams are the pagination parameters every list endpoint takes.
type listParams struct {
	Limit         *int64      `form:"limit"`
	StartingAfter string      `form:"starting_after"`
	EndingBefore  string      `form:"ending_before"`
	Created       *form.Range `form:"created"`
	Expand        []string    `form:"expand"`
}

// list answers a list request over every object of typ that keep accepts,
// newest first, with Stripe's cursor pagination.
func (c *call) list(typ, url string, p listParams, keep func(Object) bool) (any, error) {
	return c.listAmong(typ, url, p, nil, keep)
}

// listAmong is list over the objects among names (found by an index), or
// over every object of typ when among is nil.
func (c *call) listAmong(typ, url string, p listParams, among []string, keep func(Object) bool) (any, error) {
	limit := int64(10)
	if p.Limit != nil {
		limit = *p.Limit
	}
	if limit < 1 || limit > 100 {
		return nil, invalidRequest("limit", "Invalid limit: must be between 1 and 100.")
	}
	if p.StartingAfter != "" && p.EndingBefore != "" {
		return nil, invalidRequest("ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	ids := c.s.byType[typ]
	// at is where the cursor with creation position pos falls in ids: the
	// number of ids created before it.
	at := func(pos int) int { return pos }
	if among != nil {
		ids = nil
		for _, id := range among {
			if o, ok := c.s.objects[id]; ok && o.objectType() == typ {
				ids = append(ids, id)
			}
		}
		slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(c.s.pos[a], c.s.pos[b]) })
		at = func(pos int) int {
			n, _ := slices.BinarySearchFunc(ids, pos, func(id string, pos int) int { return cmp.Compare(c.s.pos[id], pos) })
			return n
		}
	}
	accept := func(id string) bool {
		o := c.s.objects[id]
		return p.Created.Contains(o.createdAt()) && (keep == nil || keep(o))
	}
	var page []string
	hasMore := false
	switch {
	case p.EndingBefore != "":
		i, ok := c.s.cursor(typ, p.EndingBefore)
		if !ok {
			return nil, errNoSuch(strings.ReplaceAll(typ, "_", " "), p.EndingBefore, "ending_before")
		}
		first := at(i)
		if first < len(ids) && c.s.pos[ids[first]] == i {
			first++ // not the cursor itself
		}
		for j := first; j < len(ids); j++ {
			if !accept(ids[j]) {
				continue
			}
			if int64(len(page)) == limit {
				hasMore = true
				break
			}
			page = append(page, ids[j])
		}
		slices.Reverse(page)
	default:
		start := len(ids) - 1
		if p.StartingAfter != "" {
			i, ok := c.s.cursor(typ, p.StartingAfter)
			if !ok {
				return nil, errNoSuch(strings.ReplaceAll(typ, "_", " "), p.StartingAfter, "starting_after")
			}
			start = at(i) - 1
		}
		ordered := !c.s.unordered[typ]
		for j := start; j >= 0; j-- {
			if ordered && below(p.Created, c.s.objects[ids[j]].createdAt()) {
				break // newest first: every one left was created earlier
			}
			if !accept(ids[j]) {
				continue
			}
			if int64(len(page)) == limit {
				hasMore = true
				break
			}
			page = append(page, ids[j])
		}
	}
	var sub []string
	for _, e := range p.Expand {
		if rest, ok := strings.CutPrefix(e, "data."); ok {
			sub = append(sub, rest)
		} else {
			return nil, invalidRequest("expand", "This property cannot be expanded (%s). Expand list items with data.%s.", e, e)
		}
	}
	data := make([]any, 0, len(page))
	for _, id := range page {
		m := c.s.render(c.s.objects[id])
		if err := c.s.expand(m, sub, 0); err != nil {
			return nil, err
		}
		data = append(data, m)
	}
	return map[string]any{"object": "list", "data": data, "has_more": hasMore, "url": url}, nil
}

// below reports whether n is under r's lower bound, if it has one.
func below(r *form.Range, n int64) bool {
	return r != nil && (r.Gte != nil && n < *r.Gte || r.Gt != nil && n <= *r.Gt || r.Eq != nil && n < *r.Eq)
}

// cursor finds the position of a list cursor among the objects of typ.
func (s *Sandbox) cursor(typ, id string) (int, bool) {
	o, ok := s.objects[id]
	if !ok || o.objectType() != typ {
		return 0, false
	}
	return s.pos[id], true
}
