package mailbox

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{"linkify": linkify}).ParseFS(templateFiles, "templates/*.html"))

// Handler serves the mailbox under prefix (e.g. "/mailbox"): the list of
// messages, each message, its HTML part, and a JSON list for scripts.
func (m *Mailbox) Handler(prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/{$}", m.showList)
	mux.HandleFunc("GET "+prefix+"/messages.json", m.listJSON)
	mux.HandleFunc("GET "+prefix+"/{id}", m.showMessage)
	mux.HandleFunc("GET "+prefix+"/{id}/html", m.showHTML)
	mux.HandleFunc("GET "+prefix+"/{id}/raw", m.showRaw)
	return mux
}

type listPage struct {
	Messages []Message
}

func (m *Mailbox) showList(w http.ResponseWriter, r *http.Request) {
	msgs, err := m.Messages(r.Context(), "", 200)
	if err != nil {
		http.Error(w, "the mailbox could not be read", http.StatusInternalServerError)
		return
	}
	render(w, "list.html", listPage{Messages: msgs})
}

// jsonMessage is a message as the JSON list shows it.
type jsonMessage struct {
	ID        int64  `json:"id"`
	MessageID string `json:"message_id"`
	Received  string `json:"received_at"`
	From      string `json:"from"`
	To        string `json:"to"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
}

func (m *Mailbox) listJSON(w http.ResponseWriter, r *http.Request) {
	msgs, err := m.Messages(r.Context(), r.URL.Query().Get("to"), 1000)
	if err != nil {
		http.Error(w, "the mailbox could not be read", http.StatusInternalServerError)
		return
	}
	out := []jsonMessage{}
	for _, msg := range msgs {
		text, _ := Parts(msg.Raw)
		out = append(out, jsonMessage{ID: msg.ID, MessageID: msg.MessageID, Received: msg.ReceivedAt.UTC().Format("2006-01-02T15:04:05Z"),
			From: msg.From, To: msg.To, Subject: msg.Subject, Text: text})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"messages": out})
}

type messagePage struct {
	Message
	Text    string
	HasHTML bool
}

func (m *Mailbox) message(w http.ResponseWriter, r *http.Request) (Message, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return Message{}, false
	}
	msg, err := m.Message(r.Context(), id)
	if err != nil {
		http.NotFound(w, r)
		return Message{}, false
	}
	return msg, true
}

func (m *Mailbox) showMessage(w http.ResponseWriter, r *http.Request) {
	msg, ok := m.message(w, r)
	if !ok {
		return
	}
	text, html := Parts(msg.Raw)
	render(w, "message.html", messagePage{Message: msg, Text: text, HasHTML: html != ""})
}

// showHTML shows a message's HTML part with scripts and remote content
// refused: mail is untrusted.
func (m *Mailbox) showHTML(w http.ResponseWriter, r *http.Request) {
	msg, ok := m.message(w, r)
	if !ok {
		return
	}
	_, html := Parts(msg.Raw)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, html)
}

func (m *Mailbox) showRaw(w http.ResponseWriter, r *http.Request) {
	msg, ok := m.message(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(msg.Raw)
}

func render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "the mailbox could not show this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// Parts returns the plain-text and HTML parts of a raw message.
func Parts(raw []byte) (text, html string) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return string(raw), ""
	}
	walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &text, &html)
	return text, html
}

func walk(ctype, encoding string, body io.Reader, text, html *string) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, text, html)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	data, _ := io.ReadAll(io.LimitReader(r, maxMessage))
	switch mt {
	case "text/plain":
		if *text == "" {
			*text = string(data)
		}
	case "text/html":
		if *html == "" {
			*html = string(data)
		}
	}
}

var urlPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify escapes text and makes its URLs links.
func linkify(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, loc := range urlPattern.FindAllStringIndex(s, -1) {
		b.WriteString(template.HTMLEscapeString(s[last:loc[0]]))
		u := template.HTMLEscapeString(s[loc[0]:loc[1]])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		last = loc[1]
	}
	b.WriteString(template.HTMLEscapeString(s[last:]))
	return template.HTML(b.String())
}
