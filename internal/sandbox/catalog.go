package sandbox

import (
	"context"
	"strconv"
	"strings"
)

type productParams struct {
	ID          string            `form:"id"`
	Name        string            `form:"name,required"`
	Description *string           `form:"description"`
	Active      *bool             `form:"active"`
	Metadata    map[string]string `form:"metadata"`
	Expand      []string          `form:"expand"`
}

func (s *Sandbox) createProduct(c *call) (any, error) {
	var p productParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	id := p.ID
	if id == "" {
		id = newID("prod")
	} else if _, exists := s.objects[id]; exists {
		return nil, invalidRequest("id", "Product already exists.")
	}
	pr := c.t.newProduct(id, p.Name, deref(p.Description))
	if p.Active != nil {
		pr.Active = *p.Active
	}
	mergeMetadata(&pr.Metadata, p.Metadata)
	c.t.emit("product.created", pr, nil)
	return c.object(pr)
}

func (t *txn) newProduct(id, name, description string) *Product {
	pr := &Product{
		meta:        meta{ID: id, Object: "product", Created: t.now.Unix()},
		Active:      true,
		Description: optional(description),
		Images:      []string{},
		Metadata:    Metadata{},
		Name:        name,
		Updated:     t.now.Unix(),
	}
	pr.MarketingFeatures = []struct{}{}
	t.put(pr)
	return pr
}

func (s *Sandbox) listProducts(c *call) (any, error) {
	var p struct {
		listParams
		Active *bool `form:"active"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("product", "/v1/products", p.listParams, func(o Object) bool {
		return p.Active == nil || o.(*Product).Active == *p.Active
	})
}

type priceParams struct {
	Currency   string  `form:"currency,required"`
	Product    string  `form:"product"`
	UnitAmount *int64  `form:"unit_amount"`
	Nickname   *string `form:"nickname"`
	LookupKey  *string `form:"lookup_key"`
	Active     *bool   `form:"active"`
	Recurring  *struct {
		Interval      string `form:"interval,required" enum:"day|week|month|year"`
		IntervalCount *int64 `form:"interval_count"`
	} `form:"recurring"`
	ProductData *struct {
		Name string `form:"name,required"`
	} `form:"product_data"`
	Metadata map[string]string `form:"metadata"`
	Expand   []string          `form:"expand"`
}

func (s *Sandbox) createPrice(c *call) (any, error) {
	var p priceParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if p.UnitAmount == nil {
		return nil, invalidRequest("unit_amount", "Missing required param: unit_amount.")
	}
	if *p.UnitAmount < 0 {
		return nil, invalidRequest("unit_amount", "Invalid non-negative integer")
	}
	if err := validCurrency(p.Currency); err != nil {
		return nil, err
	}
	switch {
	case p.Product != "" && p.ProductData != nil:
		return nil, invalidRequest("product", "You may only specify one of these parameters: product, product_data.")
	case p.Product == "" && p.ProductData == nil:
		return nil, invalidRequest("product", "Missing required param: product.")
	case p.Product != "":
		if _, err := get[*Product](s, p.Product, "product", "product"); err != nil {
			return nil, err
		}
	}
	product := p.Product
	if p.ProductData != nil {
		pr := c.t.newProduct(newID("prod"), p.ProductData.Name, "")
		c.t.emit("product.created", pr, nil)
		product = pr.ID
	}
	interval, count := "", int64(1)
	if p.Recurring != nil {
		interval = p.Recurring.Interval
		if p.Recurring.IntervalCount != nil {
			count = *p.Recurring.IntervalCount
		}
	}
	pr := c.t.newPrice(newID("price"), product, *p.UnitAmount, strings.ToLower(p.Currency), interval, count)
	pr.Nickname = optional(deref(p.Nickname))
	pr.LookupKey = optional(deref(p.LookupKey))
	if p.Active != nil {
		pr.Active = *p.Active
	}
	mergeMetadata(&pr.Metadata, p.Metadata)
	c.t.emit("price.created", pr, nil)
	return c.object(pr)
}

func validCurrency(cur string) error {
	if len(cur) != 3 || strings.Trim(strings.ToLower(cur), "abcdefghijklmnopqrstuvwxyz") != "" {
		return invalidRequest("currency", "Invalid currency: %s. Stripe currently supports these currencies: usd, eur, gbp, …", cur)
	}
	return nil
}

func (t *txn) newPrice(id, product string, amount int64, currency, interval string, count int64) *Price {
	pr := &Price{
		meta:              meta{ID: id, Object: "price", Created: t.now.Unix()},
		Active:            true,
		BillingScheme:     "per_unit",
		Currency:          currency,
		Metadata:          Metadata{},
		Product:           product,
		TaxBehavior:       "unspecified",
		Type:              "one_time",
		UnitAmount:        ptr(amount),
		UnitAmountDecimal: ptr(strconv.FormatInt(amount, 10)),
	}
	if interval != "" {
		pr.Type = "recurring"
		pr.Recurring = &Recurring{Interval: interval, IntervalCount: count, UsageType: "licensed"}
	}
	t.put(pr)
	return pr
}

func (s *Sandbox) listPrices(c *call) (any, error) {
	var p struct {
		listParams
		Active  *bool   `form:"active"`
		Product *string `form:"product"`
		Type    *string `form:"type" enum:"one_time|recurring"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("price", "/v1/prices", p.listParams, func(o Object) bool {
		pr := o.(*Price)
		return (p.Active == nil || pr.Active == *p.Active) &&
			(p.Product == nil || pr.Product == *p.Product) &&
			(p.Type == nil || pr.Type == *p.Type)
	})
}

// seed creates or updates the configured prices and webhook endpoints.
func (s *Sandbox) seed(ctx context.Context) error {
	return s.update(ctx, nil, func(t *txn) error {
		t.ensureDefaultClock()
		for _, sp := range s.opts.Prices {
			productID := "prod_" + strings.TrimPrefix(sp.ID, "price_")
			prod, ok := s.objects[productID].(*Product)
			if !ok {
				prod = t.newProduct(productID, sp.ProductName, sp.Description)
				t.emit("product.created", prod, nil)
			} else if prod.Name != sp.ProductName || deref(prod.Description) != sp.Description {
				before := s.render(prod)
				prod.Name, prod.Description, prod.Updated = sp.ProductName, optional(sp.Description), t.now.Unix()
				t.changed("product.updated", prod, before)
			}
			pr, ok := s.objects[sp.ID].(*Price)
			if !ok {
				pr = t.newPrice(sp.ID, productID, sp.Amount, sp.Currency, sp.Interval, 1)
				t.emit("price.created", pr, nil)
			} else if deref(pr.UnitAmount) != sp.Amount || pr.Currency != sp.Currency || recurringInterval(pr) != sp.Interval {
				// Stripe prices are immutable; the sandbox follows the
				// configuration instead, so that editing a plan's amount
				// takes effect.
				before := s.render(pr)
				fresh := t.newPrice(sp.ID, productID, sp.Amount, sp.Currency, sp.Interval, 1)
				fresh.Created = pr.Created
				t.changed("price.updated", fresh, before)
			}
			if prod.DefaultPrice == nil {
				prod.DefaultPrice = ptr(sp.ID)
				t.put(prod)
			}
		}
		for _, ec := range s.opts.Endpoints {
			if err := t.ensureEndpoint(ec); err != nil {
				return err
			}
		}
		if s.opts.Faults != nil {
			return t.replaceFaults(s.opts.Faults)
		}
		return nil
	})
}

func recurringInterval(p *Price) string {
	if p.Recurring == nil {
		return ""
	}
	return p.Recurring.Interval
}
