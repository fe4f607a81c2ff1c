package sandbox

import (
	"net/http"
	"regexp"
	"strings"
	"time"
)

// PaymentLink is a Stripe Payment Link: a page anyone with its URL can
// buy from. Each visit to the URL makes a new Checkout Session.
type PaymentLink struct {
	meta
	Active                    bool                `json:"active"`
	AfterCompletion           linkAfterCompletion `json:"after_completion"`
	AllowPromotionCodes       bool                `json:"allow_promotion_codes"`
	Application               *string             `json:"application"`
	ApplicationFeeAmount      *int64              `json:"application_fee_amount"`
	ApplicationFeePercent     *float64            `json:"application_fee_percent"`
	AutomaticTax              linkAutomaticTax    `json:"automatic_tax"`
	BillingAddressCollection  string              `json:"billing_address_collection"`
	ConsentCollection         *struct{}           `json:"consent_collection"`
	Currency                  string              `json:"currency"`
	CustomFields              []struct{}          `json:"custom_fields"`
	CustomText                customText          `json:"custom_text"`
	CustomerCreation          string              `json:"customer_creation"`
	InactiveMessage           *string             `json:"inactive_message"`
	InvoiceCreation           *struct{}           `json:"invoice_creation"`
	Metadata                  Metadata            `json:"metadata"`
	OnBehalfOf                *string             `json:"on_behalf_of"`
	PaymentIntentData         *linkData           `json:"payment_intent_data"`
	PaymentMethodCollection   string              `json:"payment_method_collection"`
	PaymentMethodTypes        []string            `json:"payment_method_types"`
	PhoneNumberCollection     enabled             `json:"phone_number_collection"`
	Restrictions              *struct{}           `json:"restrictions"`
	ShippingAddressCollection *struct{}           `json:"shipping_address_collection"`
	ShippingOptions           []struct{}          `json:"shipping_options"`
	SubmitType                string              `json:"submit_type"`
	SubscriptionData          *struct{}           `json:"subscription_data"`
	TaxIDCollection           linkTaxIDCollection `json:"tax_id_collection"`
	TransferData              *struct{}           `json:"transfer_data"`
	URL                       string              `json:"url"`

	// LineItems are shown through the line_items expansion and endpoint.
	LineItems []LineItem `json:"_line_items,omitempty"`
	// Code is the last part of URL, by which visitors reach the link.
	Code string `json:"_code"`
}

// linkAfterCompletion is where a payment link's buyer goes once paid: to
// the link's own URL (redirect), or to a confirmation page.
type linkAfterCompletion struct {
	HostedConfirmation *linkConfirmation `json:"hosted_confirmation,omitempty"`
	Redirect           *linkRedirect     `json:"redirect,omitempty"`
	Type               string            `json:"type"`
}

type linkConfirmation struct {
	CustomMessage *string `json:"custom_message"`
}

type linkRedirect struct {
	URL string `json:"url"`
}

type linkAutomaticTax struct {
	Enabled   bool      `json:"enabled"`
	Liability *struct{} `json:"liability"`
}

type linkTaxIDCollection struct {
	Enabled  bool   `json:"enabled"`
	Required string `json:"required"`
}

// linkData is what a payment link passes on to the payment intent of each
// of its sessions.
type linkData struct {
	Description *string  `json:"description"`
	Metadata    Metadata `json:"metadata"`
}

type paymentLinkParams struct {
	LineItems       []lineItemParams `form:"line_items"`
	AfterCompletion *struct {
		Type     string `form:"type,required" enum:"hosted_confirmation|redirect"`
		Redirect *struct {
			URL string `form:"url,required"`
		} `form:"redirect"`
		HostedConfirmation *struct {
			CustomMessage *string `form:"custom_message"`
		} `form:"hosted_confirmation"`
	} `form:"after_completion"`
	CustomerCreation  *string           `form:"customer_creation" enum:"always|if_required"`
	Metadata          map[string]string `form:"metadata"`
	PaymentIntentData *struct {
		Description *string           `form:"description"`
		Metadata    map[string]string `form:"metadata"`
	} `form:"payment_intent_data"`
	Expand []string `form:"expand"`
}

func (s *Sandbox) createPaymentLink(c *call) (any, error) {
	var p paymentLinkParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if len(p.LineItems) == 0 {
		return nil, invalidRequest("line_items", "Missing required param: line_items.")
	}
	for i, li := range p.LineItems {
		if li.Quantity == nil {
			return nil, invalidRequest("line_items["+itoa(i)+"][quantity]", "Missing required param: line_items[%d][quantity].", i)
		}
	}
	first, err := get[*Price](s, p.LineItems[0].Price, "price", "line_items[0][price]")
	if err != nil {
		return nil, err
	}
	subscription := first.Recurring != nil
	items, err := s.lineItems(p.LineItems, subscription)
	if err != nil {
		return nil, err
	}
	switch {
	case subscription && p.PaymentIntentData != nil:
		return nil, invalidRequest("payment_intent_data", "You can not pass `payment_intent_data` when the payment link has recurring prices.")
	case subscription && p.CustomerCreation != nil:
		return nil, invalidRequest("customer_creation", "`customer_creation` can only be used when the payment link has no recurring prices.")
	}
	code := "test_" + strings.TrimPrefix(newID("x"), "x_")
	pl := &PaymentLink{
		meta:                     meta{ID: newID("plink"), Object: "payment_link", Created: c.t.now.Unix()},
		Active:                   true,
		AfterCompletion:          linkAfterCompletion{Type: "hosted_confirmation", HostedConfirmation: &linkConfirmation{}},
		BillingAddressCollection: "auto",
		Currency:                 items[0].Currency,
		CustomFields:             []struct{}{},
		CustomerCreation:         "if_required",
		Metadata:                 Metadata{},
		PaymentMethodCollection:  "always",
		ShippingOptions:          []struct{}{},
		SubmitType:               "auto",
		TaxIDCollection:          linkTaxIDCollection{Required: "never"},
		URL:                      s.opts.BaseURL + "/b/" + code,
		LineItems:                items,
		Code:                     code,
	}
	if a := p.AfterCompletion; a != nil {
		switch a.Type {
		case "redirect":
			if a.Redirect == nil {
				return nil, invalidRequest("after_completion[redirect]", "Missing required param: after_completion[redirect].")
			}
			if !validURL(strings.ReplaceAll(a.Redirect.URL, "{CHECKOUT_SESSION_ID}", "x")) {
				return nil, invalidRequest("after_completion[redirect][url]", "Not a valid URL")
			}
			pl.AfterCompletion = linkAfterCompletion{Type: "redirect", Redirect: &linkRedirect{URL: a.Redirect.URL}}
		case "hosted_confirmation":
			if a.HostedConfirmation != nil {
				pl.AfterCompletion.HostedConfirmation.CustomMessage = a.HostedConfirmation.CustomMessage
			}
		}
	}
	if p.CustomerCreation != nil {
		pl.CustomerCreation = *p.CustomerCreation
	}
	mergeMetadata(&pl.Metadata, p.Metadata)
	if d := p.PaymentIntentData; d != nil {
		pl.PaymentIntentData = &linkData{Description: d.Description}
		mergeMetadata(&pl.PaymentIntentData.Metadata, d.Metadata)
	}
	c.t.put(pl)
	return c.object(pl)
}

func (s *Sandbox) listPaymentLinks(c *call) (any, error) {
	var p struct {
		listParams
		Active *bool `form:"active"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("payment_link", "/v1/payment_links", p.listParams, func(o Object) bool {
		return p.Active == nil || o.(*PaymentLink).Active == *p.Active
	})
}

func (s *Sandbox) listPaymentLinkItems(c *call) (any, error) {
	page, err := decodeItemPage(c)
	if err != nil {
		return nil, err
	}
	pl, err := get[*PaymentLink](s, c.r.PathValue("id"), "payment_link", "payment_link")
	if err != nil {
		return nil, err
	}
	return s.lineItemList(pl.LineItems, "/v1/payment_links/"+pl.ID+"/line_items", page.limit, page.after, page.before), nil
}

// clientReference is what Stripe accepts as a payment link's
// client_reference_id; anything else it drops silently.
var clientReference = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// visitPaymentLink is a payment link's URL: each visit makes a Checkout
// Session from the link, with the client_reference_id and prefilled_email
// the URL carries, and sends the buyer to its payment page.
func (s *Sandbox) visitPaymentLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var target string
	var msg *pageMessage
	err := s.update(r.Context(), nil, func(t *txn) error {
		pl := s.linkByCode(r.PathValue("code"))
		switch {
		case pl == nil:
			msg = &pageMessage{http.StatusNotFound, messagePage{Title: "This payment link is not valid", Text: "Check the link, or ask the seller for a new one."}}
		case !pl.Active:
			msg = &pageMessage{http.StatusGone, messagePage{Title: "This payment link is no longer active", Text: deref(pl.InactiveMessage)}}
		default:
			target = *t.sessionFromLink(pl, q.Get("client_reference_id"), q.Get("prefilled_email")).URL
		}
		return nil
	})
	switch {
	case err != nil:
		s.log.Error("sandbox: opening a payment link failed", "err", err)
		render(w, http.StatusInternalServerError, "message.html", messagePage{Title: "That did not work", Text: "The sandbox could not open this payment link. Try again."})
	case msg != nil:
		render(w, msg.status, "message.html", msg.page)
	default:
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// linkByCode finds the payment link whose URL ends in code.
func (s *Sandbox) linkByCode(code string) *PaymentLink {
	for _, id := range s.byType["payment_link"] {
		if pl := s.objects[id].(*PaymentLink); pl.Code == code {
			return pl
		}
	}
	return nil
}

// sessionFromLink makes the Checkout Session of one visit to a payment
// link, as Stripe does: the link's line items, metadata and completion, a
// payment_link naming it, and the visitor's client reference (if Stripe
// would accept it) and email, which they may change on the page.
func (t *txn) sessionFromLink(pl *PaymentLink, clientRef, email string) *CheckoutSession {
	mode := "payment"
	if pl.LineItems[0].Price.Recurring != nil {
		mode = "subscription"
	}
	cs := &CheckoutSession{
		meta:                    meta{ID: newID("cs_test"), Object: "checkout.session", Created: t.now.Unix()},
		CustomFields:            []struct{}{},
		ExpiresAt:               t.now.Add(24 * time.Hour).Unix(),
		Metadata:                Metadata(cloneMap(pl.Metadata)),
		Mode:                    mode,
		PaymentLink:             &pl.ID,
		PaymentMethodTypes:      []string{"card"},
		PaymentStatus:           "unpaid",
		ShippingOptions:         []struct{}{},
		Status:                  "open",
		UIMode:                  "hosted_page",
		PaymentMethodCollection: ptr(pl.PaymentMethodCollection),
		PrefilledEmail:          email,
	}
	if clientReference.MatchString(clientRef) {
		cs.ClientReferenceID = &clientRef
	}
	if pl.AfterCompletion.Redirect != nil {
		cs.SuccessURL = &pl.AfterCompletion.Redirect.URL
	}
	items := make([]LineItem, len(pl.LineItems))
	for i, li := range pl.LineItems {
		li.ID = newID("li")
		items[i] = li
	}
	cs.setLineItems(items)
	if mode == "payment" {
		cs.CustomerCreation = ptr(pl.CustomerCreation)
		if d := pl.PaymentIntentData; d != nil {
			cs.PaymentIntentData = &PaymentIntentData{Description: d.Description, Metadata: Metadata(cloneMap(d.Metadata))}
		}
	}
	cs.URL = ptr(t.s.opts.BaseURL + "/c/pay/" + cs.ID)
	t.put(cs)
	return cs
}
