// Package mailbox is a local mail server for trying paidup without a mail
// provider: a real SMTP server on loopback that keeps what it receives and
// shows it in the browser. Like Mailpit with --ignore-duplicate-ids, it
// keeps one copy of each Message-ID, as many mail providers show one.
package mailbox

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/paidup/paidup/internal/sqldb"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations are the mailbox's table, prefixed mailbox_.
var Migrations = sqldb.Migrations{
	Table:    "mailbox_schema_version",
	SQLite:   sub("migrations/sqlite"),
	Postgres: sub("migrations/postgres"),
}

func sub(dir string) fs.FS {
	f, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		panic(err)
	}
	return f
}

// maxMessage is the largest message accepted.
const maxMessage = 10 << 20

// Mailbox receives mail over SMTP and keeps it in a database.
type Mailbox struct {
	db  *sqldb.DB
	log *slog.Logger
	srv *smtp.Server
}

// Open migrates the mailbox's table on db.
func Open(ctx context.Context, db *sqldb.DB, log *slog.Logger) (*Mailbox, error) {
	err := db.WithMigrationLock(ctx, func() error {
		_, err := db.Migrate(ctx, Migrations)
		return err
	})
	if err != nil {
		return nil, err
	}
	m := &Mailbox{db: db, log: log}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{m: m}, nil }))
	m.srv.Domain = "mailbox.paidup.local"
	m.srv.MaxMessageBytes = maxMessage
	m.srv.MaxRecipients = 50
	m.srv.ReadTimeout = 30 * time.Second
	m.srv.WriteTimeout = 30 * time.Second
	m.srv.AllowInsecureAuth = true
	// Addresses with non-ASCII local parts (RFC 6531), as Mailpit takes.
	m.srv.EnableSMTPUTF8 = true
	return m, nil
}

// Serve accepts SMTP connections on l until Close.
func (m *Mailbox) Serve(l net.Listener) error {
	err := m.srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the SMTP server.
func (m *Mailbox) Close() error { return m.srv.Close() }

type session struct {
	m    *Mailbox
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// AuthMechanisms offers PLAIN, so that a mailer configured with a user and
// password works against the mailbox as against a real provider.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any credentials: the mailbox is a local stand-in, not a gate.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, maxMessage+1))
	if err != nil {
		return err
	}
	if len(raw) > maxMessage {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Not a valid message"}
	}
	id := strings.Trim(msg.Header.Get("Message-ID"), "<> ")
	if id == "" {
		id = fmt.Sprintf("no-id-%d@mailbox.paidup.local", time.Now().UnixNano())
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.m.db.Write.ExecContext(ctx, `INSERT INTO mailbox_messages (message_id, received_at, mail_from, rcpt_to, subject, raw)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING`,
		id, time.Now().UTC().Truncate(time.Microsecond), s.from, strings.Join(s.to, ", "), subject, raw)
	if err != nil {
		s.m.log.Error("mailbox: storing a message failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Could not store the message; try again"}
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s.m.log.Info("mailbox: duplicate Message-ID kept once", "message_id", id)
	}
	return nil
}

// Message is a stored message.
type Message struct {
	ID         int64
	MessageID  string
	ReceivedAt time.Time
	From, To   string
	Subject    string
	Raw        []byte
}

// Messages lists stored messages, newest first, optionally only those to
// an address.
func (m *Mailbox) Messages(ctx context.Context, to string, limit int) ([]Message, error) {
	q := `SELECT id, message_id, received_at, mail_from, rcpt_to, subject, raw FROM mailbox_messages`
	args := []any{}
	if to != "" {
		q += ` WHERE rcpt_to LIKE $1`
		args = append(args, "%"+to+"%")
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)
	rows, err := m.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing mailbox: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var msg Message
		if err := rows.Scan(&msg.ID, &msg.MessageID, &msg.ReceivedAt, &msg.From, &msg.To, &msg.Subject, &msg.Raw); err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, rows.Err()
}

// Message reads one stored message.
func (m *Mailbox) Message(ctx context.Context, id int64) (Message, error) {
	var msg Message
	err := m.db.Read.QueryRowContext(ctx, `SELECT id, message_id, received_at, mail_from, rcpt_to, subject, raw FROM mailbox_messages WHERE id = $1`, id).
		Scan(&msg.ID, &msg.MessageID, &msg.ReceivedAt, &msg.From, &msg.To, &msg.Subject, &msg.Raw)
	if errors.Is(err, sql.ErrNoRows) {
		return msg, errNoMessage
	}
	return msg, err
}

var errNoMessage = errors.New("no such message")
