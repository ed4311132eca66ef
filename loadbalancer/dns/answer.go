package dns

import (
	"net"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// nsTTL is the TTL of the NS record and of the name server's address: they change rarely.
const nsTTL = 3600

// handler adapts miekg/dns's callback to the server.
type handler struct{ s *Server }

var _ mdns.Handler = handler{}

func (h handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	client, tcp := remote(w.RemoteAddr())
	resp := h.s.reply(req, client, tcp)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		h.s.log.Debug("dns: writing response", "client", client, "err", err)
	}
}

// remote returns the client's address and whether it came over TCP.
func remote(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap(), false
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// accept screens a query on its header, before it is unpacked.
func (s *Server) accept(dh mdns.Header) mdns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return mdns.MsgIgnore // never answer an answer: that is how reflection loops start
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != mdns.OpcodeQuery {
		s.m.queries[numQtypes-1][rcodeIndex(mdns.RcodeNotImplemented)].Inc()
		return mdns.MsgRejectNotImplemented
	}
	// One question; nothing in the answer and authority sections; OPT and perhaps TSIG in the
	// additional one.
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2 {
		s.m.queries[numQtypes-1][rcodeIndex(mdns.RcodeFormatError)].Inc()
		return mdns.MsgReject
	}
	return mdns.MsgAccept
}

// invalid counts the packets that do not unpack (miekg/dns answers FORMERR when it can).
func (s *Server) invalid(m []byte, err error) { s.m.invalid.Inc() }

// reply returns the response to req from client, or nil to send none.
func (s *Server) reply(req *mdns.Msg, client netip.Addr, tcp bool) *mdns.Msg {
	if req.Response {
		return nil
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	r := response{s: s, m: m, qtype: numQtypes - 1, size: mdns.MaxMsgSize}
	if !tcp {
		r.size = mdns.MinMsgSize
	}
	if len(req.Question) == 1 {
		r.qtype = qtypeIndex(req.Question[0].Qtype)
	}
	if req.Opcode != mdns.OpcodeQuery {
		m.Question = nil
		return r.finish(mdns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		m.Question = nil
		return r.finish(mdns.RcodeFormatError)
	}

	var nopt int
	for _, rr := range req.Extra {
		if o, ok := rr.(*mdns.OPT); ok {
			r.opt = o
			nopt++
		}
	}
	if nopt > 1 {
		r.opt = nil // RFC 6891 6.1.1: FORMERR, and no OPT in it
		return r.finish(mdns.RcodeFormatError)
	}
	loc := client
	if r.opt != nil {
		if !tcp {
			r.size = min(max(int(r.opt.UDPSize()), mdns.MinMsgSize), s.cfg.MaxUDPSize)
		}
		if r.opt.Version() != 0 {
			return r.finish(mdns.RcodeBadVers)
		}
		for _, o := range r.opt.Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				if r.ecs != nil {
					r.ecs = nil
					return r.finish(mdns.RcodeFormatError) // RFC 7871 7.1.2: one ECS option
				}
				r.ecs = e
			}
		}
		if r.ecs != nil {
			var ok bool
			if loc, ok = subnetAddr(r.ecs); !ok {
				r.ecs = nil
				return r.finish(mdns.RcodeFormatError)
			}
		}
	}

	q := req.Question[0]
	switch {
	case q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY,
		!mdns.IsSubDomain(s.cfg.Domain, q.Name),
		q.Qtype == mdns.TypeAXFR, q.Qtype == mdns.TypeIXFR:
		return r.finish(mdns.RcodeRefused)
	}
	m.Authoritative = true
	switch {
	case strings.EqualFold(q.Name, s.cfg.Domain):
		s.apex(&r, q, loc)
	case s.nsInside && strings.EqualFold(q.Name, s.cfg.NS):
		if a := s.cfg.NSAddr; a.IsValid() && (q.Qtype == mdns.TypeANY || q.Qtype == addrType(a)) {
			m.Answer = append(m.Answer, addrRR(q.Name, a, nsTTL))
		}
	default:
		m.Ns = append(m.Ns, s.soa())
		return r.finish(mdns.RcodeNameError)
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa()) // NODATA: the SOA's minimum is the negative TTL
	}
	return r.finish(mdns.RcodeSuccess)
}

// apex answers a question for the domain itself.
func (s *Server) apex(r *response, q mdns.Question, loc netip.Addr) {
	m := r.m
	switch q.Qtype {
	case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
		// ANY gets the addresses only (RFC 8482 lets a server pick).
		zone, scope := s.zones.Lookup(loc)
		if r.ecs != nil {
			r.scope = scope // the answer depends on the client's subnet
		}
		all := s.cfg.Source.Balancers()
		n := s.next.Add(1) - 1
		for _, v6 := range []bool{false, true} {
			if q.Qtype == mdns.TypeA && v6 || q.Qtype == mdns.TypeAAAA && !v6 {
				continue
			}
			bs, failOpen := s.pick(all, v6, zone, n)
			s.noteFailOpen(v6, failOpen, len(all))
			if len(bs) == 0 {
				continue
			}
			s.m.answer(bs[0].Zone)
			m.Answer = appendAddrs(m.Answer, q.Name, bs, s.ttl)
		}
	case mdns.TypeSOA:
		m.Answer = append(m.Answer, s.soa())
	case mdns.TypeNS:
		m.Answer = append(m.Answer, &mdns.NS{Hdr: hdr(q.Name, mdns.TypeNS, nsTTL), Ns: s.cfg.NS})
		if a := s.cfg.NSAddr; s.nsInside && a.IsValid() {
			m.Extra = append(m.Extra, addrRR(s.cfg.NS, a, nsTTL))
		}
	}
}

// pick returns the balancers to answer with, at most MaxAnswers: the healthy ones of the
// family (all of them when none is healthy: fail open), those of zone first, each group
// rotated by n. Addresses appear once.
func (s *Server) pick(all []Balancer, v6 bool, zone string, n uint64) (out []Balancer, failOpen bool) {
	healthy := 0
	for _, b := range all {
		if isV6(b.Addr) == v6 && b.Healthy {
			healthy++
		}
	}
	failOpen = healthy == 0
	cand := make([]Balancer, 0, len(all))
	var local int // cand[:local] are zone's
	for pass := range 2 {
		for _, b := range all {
			if !b.Addr.IsValid() || isV6(b.Addr) != v6 || !b.Healthy && !failOpen ||
				(pass == 0) != (zone != "" && b.Zone == zone) || hasAddr(cand, b.Addr) {
				continue
			}
			cand = append(cand, b)
		}
		if pass == 0 {
			local = len(cand)
		}
	}
	out = make([]Balancer, 0, min(len(cand), s.cfg.MaxAnswers))
	for _, group := range [][]Balancer{cand[:local], cand[local:]} {
		for i := range group {
			if len(out) == s.cfg.MaxAnswers {
				break
			}
			out = append(out, group[(uint64(i)+n)%uint64(len(group))])
		}
	}
	return out, failOpen && len(out) > 0
}

// noteFailOpen counts fail-open answers and logs when a family starts or stops failing open.
func (s *Server) noteFailOpen(v6, failOpen bool, known int) {
	fam, name := 0, "A"
	if v6 {
		fam, name = 1, "AAAA"
	}
	if failOpen {
		s.m.failOpen.Inc()
	}
	if s.failOpen[fam].CompareAndSwap(!failOpen, failOpen) {
		if failOpen {
			s.log.Warn("dns: no healthy balancer: answering with every known one (fail open)", "type", name, "known", known)
		} else {
			s.log.Info("dns: healthy balancers again", "type", name)
		}
	}
}

func isV6(a netip.Addr) bool { return !a.Unmap().Is4() }

func hasAddr(bs []Balancer, a netip.Addr) bool {
	for _, b := range bs {
		if b.Addr == a {
			return true
		}
	}
	return false
}

func hdr(name string, t uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
}

func addrType(a netip.Addr) uint16 {
	if isV6(a) {
		return mdns.TypeAAAA
	}
	return mdns.TypeA
}

func addrRR(name string, a netip.Addr, ttl uint32) mdns.RR {
	if isV6(a) {
		return &mdns.AAAA{Hdr: hdr(name, mdns.TypeAAAA, ttl), AAAA: a.AsSlice()}
	}
	return &mdns.A{Hdr: hdr(name, mdns.TypeA, ttl), A: a.Unmap().AsSlice()}
}

// appendAddrs appends the balancers' A or AAAA records, with two allocations in all.
func appendAddrs(rrs []mdns.RR, name string, bs []Balancer, ttl uint32) []mdns.RR {
	if !isV6(bs[0].Addr) {
		recs := make([]mdns.A, len(bs))
		ips := make([]byte, 4*len(bs))
		for i, b := range bs {
			a4 := b.Addr.Unmap().As4()
			ip := ips[4*i : 4*i+4 : 4*i+4]
			copy(ip, a4[:])
			recs[i] = mdns.A{Hdr: hdr(name, mdns.TypeA, ttl), A: ip}
			rrs = append(rrs, &recs[i])
		}
		return rrs
	}
	recs := make([]mdns.AAAA, len(bs))
	ips := make([]byte, 16*len(bs))
	for i, b := range bs {
		a16 := b.Addr.As16()
		ip := ips[16*i : 16*i+16 : 16*i+16]
		copy(ip, a16[:])
		recs[i] = mdns.AAAA{Hdr: hdr(name, mdns.TypeAAAA, ttl), AAAA: ip}
		rrs = append(rrs, &recs[i])
	}
	return rrs
}

// soa returns the domain's SOA record, a new one each time (packing writes to a record).
func (s *Server) soa() *mdns.SOA {
	return &mdns.SOA{
		Hdr:     hdr(s.cfg.Domain, mdns.TypeSOA, s.negTTL),
		Ns:      s.cfg.NS,
		Mbox:    s.cfg.Hostmaster,
		Serial:  s.serial,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  s.negTTL,
	}
}

// subnetAddr returns the address an ECS option stands for, masked to its source prefix; the
// zero Addr when the client asks not to be located (source prefix 0).
func subnetAddr(e *mdns.EDNS0_SUBNET) (netip.Addr, bool) {
	var a netip.Addr
	switch e.Family {
	case 0:
		return netip.Addr{}, e.SourceNetmask == 0
	case 1:
		ip := e.Address.To4()
		if ip == nil || e.SourceNetmask > 32 {
			return netip.Addr{}, false
		}
		a = netip.AddrFrom4([4]byte(ip))
	case 2:
		ip := e.Address.To16()
		if ip == nil || e.SourceNetmask > 128 {
			return netip.Addr{}, false
		}
		a = netip.AddrFrom16([16]byte(ip))
	default:
		return netip.Addr{}, false
	}
	if e.SourceNetmask == 0 {
		return netip.Addr{}, true
	}
	p, err := a.Prefix(int(e.SourceNetmask))
	if err != nil {
		return netip.Addr{}, false
	}
	return p.Addr(), true
}

// response is a reply being built.
type response struct {
	s     *Server
	m     *mdns.Msg
	qtype int                // metrics index
	size  int                // the most bytes the client takes
	opt   *mdns.OPT          // the query's, if any
	ecs   *mdns.EDNS0_SUBNET // the query's, if any
	scope int                // ECS scope prefix length of the answer
}

// finish sets rcode, adds the OPT record (echoing ECS, RFC 7871 7.2.1), truncates to the
// client's size and counts the query.
func (r *response) finish(rcode int) *mdns.Msg {
	m := r.m
	m.Rcode = rcode
	if rcode != mdns.RcodeSuccess && rcode != mdns.RcodeNameError {
		m.Authoritative = false
	}
	if r.opt != nil {
		o := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
		o.SetUDPSize(uint16(r.s.cfg.MaxUDPSize))
		if e := r.ecs; e != nil {
			o.Option = append(o.Option, &mdns.EDNS0_SUBNET{
				Code:          mdns.EDNS0SUBNET,
				Family:        e.Family,
				SourceNetmask: e.SourceNetmask,
				SourceScope:   uint8(r.scope),
				Address:       e.Address,
			})
		}
		m.Extra = append(m.Extra, o)
	}
	m.Truncate(r.size) // also turns on name compression when it helps
	if m.Truncated {
		r.s.m.truncated.Inc()
	}
	r.s.m.queries[r.qtype][rcodeIndex(rcode)].Inc()
	return m
}
