package sandbox

import "encoding/json"

// The Stripe objects the sandbox keeps, with the JSON shape of Stripe's API
// (checked against Stripe's OpenAPI spec in tests). Fields Stripe returns as
// null are kept as nil pointers without omitempty, so they appear as null.

// Object is any object the sandbox stores. Fields whose JSON name starts
// with an underscore are the sandbox's own: stored, never shown.
type Object interface {
	objectID() string
	objectType() string
	createdAt() int64
}

type meta struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Created  int64  `json:"created"`
	Livemode bool   `json:"livemode"`
}

func (m *meta) objectID() string   { return m.ID }
func (m *meta) objectType() string { return m.Object }
func (m *meta) createdAt() int64   { return m.Created }

// Metadata is a Stripe metadata hash; it is always present, possibly empty.
type Metadata map[string]string

// MarshalJSON writes an empty hash rather than null.
func (m Metadata) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]string(m))
}

// Address is a postal address.
type Address struct {
	City       *string `json:"city"`
	Country    *string `json:"country"`
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	PostalCode *string `json:"postal_code"`
	State      *string `json:"state"`
}

// Customer is a Stripe customer.
type Customer struct {
	meta
	Address         *Address                `json:"address"`
	Balance         int64                   `json:"balance"`
	Currency        *string                 `json:"currency"`
	DefaultSource   *string                 `json:"default_source"`
	Delinquent      bool                    `json:"delinquent"`
	Description     *string                 `json:"description"`
	Discount        *struct{}               `json:"discount"`
	Email           *string                 `json:"email"`
	InvoicePrefix   string                  `json:"invoice_prefix"`
	InvoiceSettings CustomerInvoiceSettings `json:"invoice_settings"`
	Metadata        Metadata                `json:"metadata"`
	Name            *string                 `json:"name"`
	NextInvoiceSeq  int64                   `json:"next_invoice_sequence"`
	Phone           *string                 `json:"phone"`
	PreferredLocale []string                `json:"preferred_locales"`
	Shipping        *struct{}               `json:"shipping"`
	TaxExempt       string                  `json:"tax_exempt"`
	TestClock       *string                 `json:"test_clock"`
}

// CustomerInvoiceSettings holds the customer's default payment method.
type CustomerInvoiceSettings struct {
	CustomFields         []struct{} `json:"custom_fields"`
	DefaultPaymentMethod *string    `json:"default_payment_method"`
	Footer               *string    `json:"footer"`
	RenderingOptions     *struct{}  `json:"rendering_options"`
}

// DeletedObject is what Stripe returns for a deleted object.
type DeletedObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// Product is a Stripe product.
type Product struct {
	meta
	Active            bool       `json:"active"`
	DefaultPrice      *string    `json:"default_price"`
	Description       *string    `json:"description"`
	Images            []string   `json:"images"`
	MarketingFeatures []struct{} `json:"marketing_features"`
	Metadata          Metadata   `json:"metadata"`
	Name              string     `json:"name"`
	PackageDimensions *struct{}  `json:"package_dimensions"`
	Shippable         *bool      `json:"shippable"`
	StatementDesc     *string    `json:"statement_descriptor"`
	TaxCode           *string    `json:"tax_code"`
	UnitLabel         *string    `json:"unit_label"`
	Updated           int64      `json:"updated"`
	URL               *string    `json:"url"`
}

// Price is a Stripe price.
type Price struct {
	meta
	Active            bool       `json:"active"`
	BillingScheme     string     `json:"billing_scheme"`
	Currency          string     `json:"currency"`
	CustomUnitAmount  *struct{}  `json:"custom_unit_amount"`
	LookupKey         *string    `json:"lookup_key"`
	Metadata          Metadata   `json:"metadata"`
	Nickname          *string    `json:"nickname"`
	Product           string     `json:"product"`
	Recurring         *Recurring `json:"recurring"`
	TaxBehavior       string     `json:"tax_behavior"`
	TiersMode         *string    `json:"tiers_mode"`
	TransformQuantity *struct{}  `json:"transform_quantity"`
	Type              string     `json:"type"`
	UnitAmount        *int64     `json:"unit_amount"`
	UnitAmountDecimal *string    `json:"unit_amount_decimal"`
}

// Recurring is a price's billing interval.
type Recurring struct {
	Interval      string  `json:"interval"`
	IntervalCount int64   `json:"interval_count"`
	Meter         *string `json:"meter"`
	UsageType     string  `json:"usage_type"`
}

// CheckoutSession is a Stripe Checkout Session.
type CheckoutSession struct {
	meta
	AllowPromotionCodes     *bool                   `json:"allow_promotion_codes"`
	AmountSubtotal          int64                   `json:"amount_subtotal"`
	AmountTotal             int64                   `json:"amount_total"`
	AutomaticTax            automaticTax            `json:"automatic_tax"`
	BillingAddressColl      *string                 `json:"billing_address_collection"`
	CancelURL               *string                 `json:"cancel_url"`
	ClientReferenceID       *string                 `json:"client_reference_id"`
	ClientSecret            *string                 `json:"client_secret"`
	Consent                 *struct{}               `json:"consent"`
	ConsentCollection       *struct{}               `json:"consent_collection"`
	Currency                string                  `json:"currency"`
	CustomFields            []struct{}              `json:"custom_fields"`
	CustomText              customText              `json:"custom_text"`
	Customer                *string                 `json:"customer"`
	CustomerCreation        *string                 `json:"customer_creation"`
	CustomerDetails         *SessionCustomerDetails `json:"customer_details"`
	CustomerEmail           *string                 `json:"customer_email"`
	ExpiresAt               int64                   `json:"expires_at"`
	Invoice                 *string                 `json:"invoice"`
	InvoiceCreation         *struct{}               `json:"invoice_creation"`
	Locale                  *string                 `json:"locale"`
	Metadata                Metadata                `json:"metadata"`
	Mode                    string                  `json:"mode"`
	PaymentIntent           *string                 `json:"payment_intent"`
	PaymentLink             *string                 `json:"payment_link"`
	PaymentMethodCollection *string                 `json:"payment_method_collection"`
	PaymentMethodOptions    *struct{}               `json:"payment_method_options"`
	PaymentMethodTypes      []string                `json:"payment_method_types"`
	PaymentStatus           string                  `json:"payment_status"`
	PhoneNumberCollection   enabled                 `json:"phone_number_collection"`
	RecoveredFrom           *string                 `json:"recovered_from"`
	SetupIntent             *string                 `json:"setup_intent"`
	ShippingAddressColl     *struct{}               `json:"shipping_address_collection"`
	ShippingCost            *struct{}               `json:"shipping_cost"`
	ShippingOptions         []struct{}              `json:"shipping_options"`
	Status                  string                  `json:"status"`
	SubmitType              *string                 `json:"submit_type"`
	Subscription            *string                 `json:"subscription"`
	SuccessURL              *string                 `json:"success_url"`
	TotalDetails            totalDetails            `json:"total_details"`
	UIMode                  string                  `json:"ui_mode"`
	URL                     *string                 `json:"url"`

	// Private fields (named with a leading _) are stored but never shown.

	// LineItems are shown through the line_items expansion and endpoint.
	LineItems []LineItem `json:"_line_items,omitempty"`
	// PaymentIntentData is passed on to the payment intent.
	PaymentIntentData *PaymentIntentData `json:"_payment_intent_data,omitempty"`
	// SubscriptionData is passed on to the subscription.
	SubscriptionData *SubscriptionData `json:"_subscription_data,omitempty"`
	// PrefilledEmail is the email a payment link's URL offered: shown on
	// the payment page, where the customer may change it.
	PrefilledEmail string `json:"_prefilled_email,omitempty"`
}

// SubscriptionData is what a session passes on to its subscription.
type SubscriptionData struct {
	Description *string  `json:"description,omitempty"`
	Metadata    Metadata `json:"metadata,omitempty"`
}

// PaymentIntentData is what a session passes on to its payment intent.
type PaymentIntentData struct {
	Description  *string  `json:"description,omitempty"`
	Metadata     Metadata `json:"metadata,omitempty"`
	ReceiptEmail *string  `json:"receipt_email,omitempty"`
	// StatementDescriptorSuffix is what the customer's bank statement
	// shows after the account's prefix.
	StatementDescriptorSuffix *string `json:"statement_descriptor_suffix,omitempty"`
}

type automaticTax struct {
	Enabled   bool      `json:"enabled"`
	Liability *struct{} `json:"liability"`
	Provider  *string   `json:"provider"`
	Status    *string   `json:"status"`
}

type customText struct {
	AfterSubmit     *struct{} `json:"after_submit"`
	ShippingAddress *struct{} `json:"shipping_address"`
	Submit          *struct{} `json:"submit"`
	TermsOfService  *struct{} `json:"terms_of_service_acceptance"`
}

type enabled struct {
	Enabled bool `json:"enabled"`
}

type totalDetails struct {
	AmountDiscount int64  `json:"amount_discount"`
	AmountShipping *int64 `json:"amount_shipping"`
	AmountTax      int64  `json:"amount_tax"`
}

// SessionCustomerDetails is what the customer entered on the checkout page.
type SessionCustomerDetails struct {
	Address   *Address   `json:"address"`
	Email     *string    `json:"email"`
	Name      *string    `json:"name"`
	Phone     *string    `json:"phone"`
	TaxExempt string     `json:"tax_exempt"`
	TaxIDs    []struct{} `json:"tax_ids"`
}

// LineItem is one line of a checkout session.
type LineItem struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	AmountDiscount int64  `json:"amount_discount"`
	AmountSubtotal int64  `json:"amount_subtotal"`
	AmountTax      int64  `json:"amount_tax"`
	AmountTotal    int64  `json:"amount_total"`
	Currency       string `json:"currency"`
	Description    string `json:"description"`
	Price          *Price `json:"price"`
	Quantity       int64  `json:"quantity"`
}

// PaymentIntent is a Stripe payment intent.
type PaymentIntent struct {
	meta
	Amount             int64         `json:"amount"`
	AmountCapturable   int64         `json:"amount_capturable"`
	AmountReceived     int64         `json:"amount_received"`
	Application        *string       `json:"application"`
	AppFeeAmount       *int64        `json:"application_fee_amount"`
	AutomaticPMs       *struct{}     `json:"automatic_payment_methods"`
	CanceledAt         *int64        `json:"canceled_at"`
	CancellationReason *string       `json:"cancellation_reason"`
	CaptureMethod      string        `json:"capture_method"`
	ClientSecret       *string       `json:"client_secret"`
	ConfirmationMethod string        `json:"confirmation_method"`
	Currency           string        `json:"currency"`
	Customer           *string       `json:"customer"`
	Description        *string       `json:"description"`
	LastPaymentError   *APIErrorBody `json:"last_payment_error"`
	LatestCharge       *string       `json:"latest_charge"`
	Metadata           Metadata      `json:"metadata"`
	NextAction         *struct{}     `json:"next_action"`
	OnBehalfOf         *string       `json:"on_behalf_of"`
	PaymentMethod      *string       `json:"payment_method"`
	PaymentMethodTypes []string      `json:"payment_method_types"`
	Processing         *struct{}     `json:"processing"`
	ReceiptEmail       *string       `json:"receipt_email"`
	Review             *string       `json:"review"`
	SetupFutureUsage   *string       `json:"setup_future_usage"`
	Shipping           *struct{}     `json:"shipping"`
	StatementDesc      *string       `json:"statement_descriptor"`
	StatementDescSuff  *string       `json:"statement_descriptor_suffix"`
	Status             string        `json:"status"`
	TransferData       *struct{}     `json:"transfer_data"`
	TransferGroup      *string       `json:"transfer_group"`
}

// Charge is a Stripe charge.
type Charge struct {
	meta
	Amount               int64                 `json:"amount"`
	AmountCaptured       int64                 `json:"amount_captured"`
	AmountRefunded       int64                 `json:"amount_refunded"`
	Application          *string               `json:"application"`
	ApplicationFee       *string               `json:"application_fee"`
	AppFeeAmount         *int64                `json:"application_fee_amount"`
	BalanceTransaction   *string               `json:"balance_transaction"`
	BillingDetails       BillingDetails        `json:"billing_details"`
	CalculatedStmtDesc   *string               `json:"calculated_statement_descriptor"`
	Captured             bool                  `json:"captured"`
	Currency             string                `json:"currency"`
	Customer             *string               `json:"customer"`
	Description          *string               `json:"description"`
	Disputed             bool                  `json:"disputed"`
	FailureBalanceTx     *string               `json:"failure_balance_transaction"`
	FailureCode          *string               `json:"failure_code"`
	FailureMessage       *string               `json:"failure_message"`
	FraudDetails         struct{}              `json:"fraud_details"`
	Metadata             Metadata              `json:"metadata"`
	OnBehalfOf           *string               `json:"on_behalf_of"`
	Outcome              *Outcome              `json:"outcome"`
	Paid                 bool                  `json:"paid"`
	PaymentIntent        *string               `json:"payment_intent"`
	PaymentMethod        *string               `json:"payment_method"`
	PaymentMethodDetails *PaymentMethodDetails `json:"payment_method_details"`
	ReceiptEmail         *string               `json:"receipt_email"`
	ReceiptNumber        *string               `json:"receipt_number"`
	ReceiptURL           *string               `json:"receipt_url"`
	Refunded             bool                  `json:"refunded"`
	Review               *string               `json:"review"`
	Shipping             *struct{}             `json:"shipping"`
	SourceTransfer       *string               `json:"source_transfer"`
	StatementDesc        *string               `json:"statement_descriptor"`
	StatementDescSuffix  *string               `json:"statement_descriptor_suffix"`
	Status               string                `json:"status"`
	TransferData         *struct{}             `json:"transfer_data"`
	TransferGroup        *string               `json:"transfer_group"`
}

// BillingDetails is who paid, as entered with the card.
type BillingDetails struct {
	Address *Address `json:"address"`
	Email   *string  `json:"email"`
	Name    *string  `json:"name"`
	Phone   *string  `json:"phone"`
	TaxID   *string  `json:"tax_id"`
}

// Outcome is the result of the card network's decision.
type Outcome struct {
	AdviceCode         *string `json:"advice_code"`
	NetworkAdviceCode  *string `json:"network_advice_code"`
	NetworkDeclineCode *string `json:"network_decline_code"`
	NetworkStatus      string  `json:"network_status"`
	Reason             *string `json:"reason"`
	RiskLevel          string  `json:"risk_level"`
	RiskScore          int64   `json:"risk_score"`
	SellerMessage      string  `json:"seller_message"`
	Type               string  `json:"type"`
}

// PaymentMethodDetails describes the card a charge used.
type PaymentMethodDetails struct {
	Card *CardDetails `json:"card"`
	Type string       `json:"type"`
}

// CardDetails is the non-sensitive description of a card: brand, last four
// digits and expiry. The sandbox never stores a full card number.
type CardDetails struct {
	Brand       string  `json:"brand"`
	Country     string  `json:"country"`
	ExpMonth    int64   `json:"exp_month"`
	ExpYear     int64   `json:"exp_year"`
	Fingerprint string  `json:"fingerprint"`
	Funding     string  `json:"funding"`
	Last4       string  `json:"last4"`
	Network     string  `json:"network"`
	Wallet      *string `json:"wallet"`
}

// PaymentMethod is a Stripe payment method (a card).
type PaymentMethod struct {
	meta
	BillingDetails BillingDetails `json:"billing_details"`
	Card           *CardDetails   `json:"card"`
	Customer       *string        `json:"customer"`
	Metadata       Metadata       `json:"metadata"`
	Type           string         `json:"type"`
	// TestCard is the test card behind this payment method; it decides
	// how charges on it behave.
	TestCard string `json:"_test_card,omitempty"`
}

// Refund is a Stripe refund.
type Refund struct {
	meta
	Amount             int64   `json:"amount"`
	BalanceTransaction *string `json:"balance_transaction"`
	Charge             *string `json:"charge"`
	Currency           string  `json:"currency"`
	// FailureBalanceTx and FailureReason are set once a refund has
	// failed, as on Stripe.
	FailureBalanceTx  string   `json:"failure_balance_transaction,omitempty"`
	FailureReason     string   `json:"failure_reason,omitempty"`
	Metadata          Metadata `json:"metadata"`
	PaymentIntent     *string  `json:"payment_intent"`
	Reason            *string  `json:"reason"`
	ReceiptNumber     *string  `json:"receipt_number"`
	SourceTransferRev *string  `json:"source_transfer_reversal"`
	Status            string   `json:"status"`
	TransferReversal  *string  `json:"transfer_reversal"`
	// FailsAt is when a refund that is to fail (see testCard.RefundFails)
	// does, on its charge's clock; 0 for the others.
	FailsAt int64 `json:"_fails_at,omitempty"`
}

// Event is a Stripe event. Data.Object is the object as it was when the event
// happened.
type Event struct {
	meta
	APIVersion      string        `json:"api_version"`
	Data            EventData     `json:"data"`
	PendingWebhooks int64         `json:"pending_webhooks"`
	Request         *EventRequest `json:"request"`
	Type            string        `json:"type"`
}

// EventData is the object an event is about and, for updates, the values
// its changed fields had before.
type EventData struct {
	Object             json.RawMessage `json:"object"`
	PreviousAttributes map[string]any  `json:"previous_attributes,omitempty"`
}

// EventRequest names the API request that caused an event.
type EventRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

// WebhookEndpoint is where the sandbox delivers events.
type WebhookEndpoint struct {
	meta
	APIVersion    *string  `json:"api_version"`
	Application   *string  `json:"application"`
	Description   *string  `json:"description"`
	EnabledEvents []string `json:"enabled_events"`
	Metadata      Metadata `json:"metadata"`
	// Secret signs deliveries; Stripe shows it only when the endpoint is
	// created.
	Secret string `json:"_secret,omitempty"`
	Status string `json:"status"`
	URL    string `json:"url"`
}
