package cache

// Queues an entry can be in (entry.where).
const (
	inNone  uint8 = iota // not in the cache
	inSmall              // S3-FIFO's probation FIFO
	inMain               // S3-FIFO's main FIFO, or the LRU list
)

// queue is an intrusive doubly linked list of entries: head is the newest, tail the oldest.
type queue[V Sized] struct {
	head, tail *entry[V]
	bytes      int64
	len        int
}

func (q *queue[V]) pushFront(e *entry[V], where uint8) {
	e.where = where
	e.prev = nil
	e.next = q.head
	if q.head != nil {
		q.head.prev = e
	} else {
		q.tail = e
	}
	q.head = e
	q.bytes += e.charge
	q.len++
}

func (q *queue[V]) remove(e *entry[V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
	e.where = inNone
	q.bytes -= e.charge
	q.len--
}

// lru is plain least-recently-used: the baseline.
type lru[V Sized] struct{ q queue[V] }

func (p *lru[V]) add(e *entry[V], _ slot) { p.q.pushFront(e, inMain) }

func (p *lru[V]) remove(e *entry[V]) slot {
	p.q.remove(e)
	return slot{where: inMain}
}

func (p *lru[V]) evict() *entry[V] {
	e := p.q.tail
	p.q.remove(e)
	return e
}

func (p *lru[V]) hit(e *entry[V]) {
	if p.q.head != e {
		p.q.remove(e)
		p.q.pushFront(e, inMain)
	}
}
