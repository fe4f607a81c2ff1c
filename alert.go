package paidup

import "time"

// Alert states.
const (
	AlertFiring       = "firing"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Alert is a problem paidup raises to whoever is on call, from its own
// state, for as long as the problem lasts: AlertFiring until someone
// acknowledges it, AlertResolved once its condition clears. One is open
// per Key.
type Alert struct {
	ID        string
	Key       string // one open alert per key: the problem
	Rule      string
	Severity  string
	State     string
	Summary   string
	Detail    string
	Instances int // how many of the problem there are now
	FirstSeen time.Time
	LastSeen  time.Time
	// AcknowledgedBy is who acknowledged it, by email.
	AcknowledgedBy string
	AcknowledgedAt time.Time
	ResolvedAt     time.Time
	// NextNotifyAt is when the next page is due; zero: none.
	NextNotifyAt  time.Time
	Escalation    int
	Notifications int
}

// AlertNotification is one notification about an alert, numbered from 1.
type AlertNotification struct {
	AlertID    string
	Seq        int
	Event      string
	Recipients []string
	Summary    string
	CreatedAt  time.Time
}
