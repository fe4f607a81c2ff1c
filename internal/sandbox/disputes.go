package sandbox

// Dispute is a Stripe dispute: the cardholder's bank taking a charge back.
type Dispute struct {
	meta
	Amount                   int64           `json:"amount"`
	BalanceTransactions      []struct{}      `json:"balance_transactions"`
	Charge                   string          `json:"charge"`
	Currency                 string          `json:"currency"`
	EnhancedEligibilityTypes []string        `json:"enhanced_eligibility_types"`
	Evidence                 DisputeEvidence `json:"evidence"`
	EvidenceDetails          struct {
		DueBy               *int64   `json:"due_by"`
		EnhancedEligibility struct{} `json:"enhanced_eligibility"`
		HasEvidence         bool     `json:"has_evidence"`
		PastDue             bool     `json:"past_due"`
		SubmissionCount     int64    `json:"submission_count"`
	} `json:"evidence_details"`
	IsChargeRefundable   bool     `json:"is_charge_refundable"`
	Metadata             Metadata `json:"metadata"`
	PaymentIntent        *string  `json:"payment_intent"`
	PaymentMethodDetails struct {
		Card struct {
			Brand             string  `json:"brand"`
			CaseType          string  `json:"case_type"`
			Network           string  `json:"network"`
			NetworkReasonCode *string `json:"network_reason_code"`
		} `json:"card"`
		Type string `json:"type"`
	} `json:"payment_method_details"`
	Reason string `json:"reason"`
	Status string `json:"status"`
}

// DisputeEvidence is what the merchant submits to contest a dispute. The
// sandbox keeps the text fields; file fields are always null.
type DisputeEvidence struct {
	AccessActivityLog            *string  `json:"access_activity_log"`
	BillingAddress               *string  `json:"billing_address"`
	CancellationPolicy           *string  `json:"cancellation_policy"`
	CancellationPolicyDisclosure *string  `json:"cancellation_policy_disclosure"`
	CancellationRebuttal         *string  `json:"cancellation_rebuttal"`
	CustomerCommunication        *string  `json:"customer_communication"`
	CustomerEmailAddress         *string  `json:"customer_email_address"`
	CustomerName                 *string  `json:"customer_name"`
	CustomerPurchaseIP           *string  `json:"customer_purchase_ip"`
	CustomerSignature            *string  `json:"customer_signature"`
	DuplicateChargeDocumentation *string  `json:"duplicate_charge_documentation"`
	DuplicateChargeExplanation   *string  `json:"duplicate_charge_explanation"`
	DuplicateChargeID            *string  `json:"duplicate_charge_id"`
	EnhancedEvidence             struct{} `json:"enhanced_evidence"`
	ProductDescription           *string  `json:"product_description"`
	Receipt                      *string  `json:"receipt"`
	RefundPolicy                 *string  `json:"refund_policy"`
	RefundPolicyDisclosure       *string  `json:"refund_policy_disclosure"`
	RefundRefusalExplanation     *string  `json:"refund_refusal_explanation"`
	ServiceDate                  *string  `json:"service_date"`
	ServiceDocumentation         *string  `json:"service_documentation"`
	ShippingAddress              *string  `json:"shipping_address"`
	ShippingCarrier              *string  `json:"shipping_carrier"`
	ShippingDate                 *string  `json:"shipping_date"`
	ShippingDocumentation        *string  `json:"shipping_documentation"`
	ShippingTrackingNumber       *string  `json:"shipping_tracking_number"`
	UncategorizedFile            *string  `json:"uncategorized_file"`
	UncategorizedText            *string  `json:"uncategorized_text"`
}

// openDispute disputes a charge as fraudulent, as Stripe does for the
// dispute test card right after it is charged.
func (t *txn) openDispute(ch *Charge) *Dispute {
	dp := &Dispute{
		meta:                     meta{ID: newID("dp"), Object: "dispute", Created: t.now.Unix()},
		Amount:                   ch.Amount,
		BalanceTransactions:      []struct{}{},
		Charge:                   ch.ID,
		Currency:                 ch.Currency,
		EnhancedEligibilityTypes: []string{},
		Metadata:                 Metadata{},
		PaymentIntent:            ch.PaymentIntent,
		Reason:                   "fraudulent",
		Status:                   "needs_response",
	}
	dp.EvidenceDetails.DueBy = ptr(t.now.AddDate(0, 0, 7).Unix())
	dp.PaymentMethodDetails.Type = "card"
	dp.PaymentMethodDetails.Card.CaseType = "chargeback"
	dp.PaymentMethodDetails.Card.NetworkReasonCode = ptr("10.4")
	if ch.PaymentMethodDetails != nil && ch.PaymentMethodDetails.Card != nil {
		dp.PaymentMethodDetails.Card.Brand = ch.PaymentMethodDetails.Card.Brand
		dp.PaymentMethodDetails.Card.Network = ch.PaymentMethodDetails.Card.Network
	}
	t.put(dp)
	ch.Disputed = true
	t.put(ch)
	t.emit("charge.dispute.created", dp, nil)
	return dp
}

func (dp *Dispute) closed() bool {
	return dp.Status == "won" || dp.Status == "lost" || dp.Status == "warning_closed"
}

func (s *Sandbox) listDisputes(c *call) (any, error) {
	var p struct {
		listParams
		Charge        *string `form:"charge"`
		PaymentIntent *string `form:"payment_intent"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("dispute", "/v1/disputes", p.listParams, func(o Object) bool {
		dp := o.(*Dispute)
		return (p.Charge == nil || dp.Charge == *p.Charge) && (p.PaymentIntent == nil || deref(dp.PaymentIntent) == *p.PaymentIntent)
	})
}

// updateDispute records evidence and metadata. Submitted evidence (submit
// defaults to true) decides the dispute as Stripe test mode does: the text
// winning_evidence wins it and losing_evidence loses it; other evidence
// leaves it under review.
func (s *Sandbox) updateDispute(c *call) (any, error) {
	var p struct {
		Evidence *struct {
			CustomerEmailAddress       *string `form:"customer_email_address"`
			CustomerName               *string `form:"customer_name"`
			ProductDescription         *string `form:"product_description"`
			CancellationRebuttal       *string `form:"cancellation_rebuttal"`
			AccessActivityLog          *string `form:"access_activity_log"`
			RefundRefusalExplanation   *string `form:"refund_refusal_explanation"`
			ServiceDate                *string `form:"service_date"`
			DuplicateChargeExplanation *string `form:"duplicate_charge_explanation"`
			UncategorizedText          *string `form:"uncategorized_text"`
		} `form:"evidence"`
		Metadata map[string]string `form:"metadata"`
		Submit   *bool             `form:"submit"`
		Expand   []string          `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	dp, err := get[*Dispute](s, c.r.PathValue("id"), "dispute", "dispute")
	if err != nil {
		return nil, err
	}
	if dp.closed() && p.Evidence != nil {
		return nil, invalidRequest("evidence", "This dispute is already closed (%s); its evidence can no longer be changed.", dp.Status)
	}
	before := s.render(dp)
	if e := p.Evidence; e != nil {
		set := func(dst **string, v *string) {
			if v != nil {
				*dst = optional(*v)
			}
		}
		ev := &dp.Evidence
		set(&ev.CustomerEmailAddress, e.CustomerEmailAddress)
		set(&ev.CustomerName, e.CustomerName)
		set(&ev.ProductDescription, e.ProductDescription)
		set(&ev.CancellationRebuttal, e.CancellationRebuttal)
		set(&ev.AccessActivityLog, e.AccessActivityLog)
		set(&ev.RefundRefusalExplanation, e.RefundRefusalExplanation)
		set(&ev.ServiceDate, e.ServiceDate)
		set(&ev.DuplicateChargeExplanation, e.DuplicateChargeExplanation)
		set(&ev.UncategorizedText, e.UncategorizedText)
		dp.EvidenceDetails.HasEvidence = true
	}
	mergeMetadata(&dp.Metadata, p.Metadata)
	submit := p.Evidence != nil && (p.Submit == nil || *p.Submit)
	if !submit {
		c.t.changed("charge.dispute.updated", dp, before)
		return c.object(dp)
	}
	dp.EvidenceDetails.SubmissionCount++
	dp.Status = "under_review"
	c.t.changed("charge.dispute.updated", dp, before)
	switch deref(dp.Evidence.UncategorizedText) {
	case "winning_evidence":
		c.t.closeDispute(dp, "won")
	case "losing_evidence":
		c.t.closeDispute(dp, "lost")
	}
	return c.object(dp)
}

func (t *txn) closeDispute(dp *Dispute, status string) {
	dp.Status = status
	t.put(dp)
	t.emit("charge.dispute.closed", dp, nil)
}

// closeDisputeAPI accepts a dispute as lost, as POST /v1/disputes/{id}/close
// does.
func (s *Sandbox) closeDisputeAPI(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	dp, err := get[*Dispute](s, c.r.PathValue("id"), "dispute", "dispute")
	if err != nil {
		return nil, err
	}
	if dp.closed() {
		return nil, invalidRequest("dispute", "This dispute is already closed (%s).", dp.Status)
	}
	c.t.closeDispute(dp, "lost")
	return c.object(dp)
}
