package steerapi

// Ranking is the answer of GET /steer/<title>?zone=Z: the edges ranked for a client, best
// first. With signed URLs, each edge's Base is the edge's URL with the token's path prefix
// (http://HOST:PORT/t/<token>), what a player puts before /vod/<title>/...; Token and
// TokenExpires are empty otherwise.
type Ranking struct {
	Title        string   `json:"title"`
	Zone         string   `json:"zone"`
	Edges        []Ranked `json:"edges"`
	Token        string   `json:"token,omitempty"`         // for the prefix /vod/<title>/
	TokenExpires string   `json:"token_expires,omitempty"` // RFC 3339
}

// Candidate is an edge a player could be sent to, as the steering service sees it.
type Candidate struct {
	Name    string  `json:"name"`
	Zone    string  `json:"zone"`
	URL     string  `json:"url"`                 // base URL: http://HOST:PORT
	Healthy bool    `json:"healthy"`             // alive in the gossip
	Load    float64 `json:"load_rps"`            // requests per second, from the gossip; 0 when unknown
	Known   bool    `json:"load_known"`          // whether Load is a fresh report
	Owns    int     `json:"owns_first_segments"` // how many of the title's first segments the edge owns on its zone's ring
}

// Ranked is a candidate with its score and the reasons behind it.
type Ranked struct {
	Candidate
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
	// Base is set by the service, not the policy, when URLs are signed: URL/t/<token>, what a
	// player puts before /vod/<title>/... (URL alone answers 403 then).
	Base string `json:"base,omitempty"`
}
