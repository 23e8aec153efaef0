// SPDX-License-Identifier: GPL-2.0
/*
 * xprs-hostile: a misbehaving RPC-over-RDMA version 1 server (RFC 8166)
 * for tests of the NFS/RDMA client. It is a proxy: it accepts the
 * client's rdma_cm connection, takes each Call (inline, or with read
 * chunks it pulls with RDMA Read), forwards the RPC message over TCP
 * (record marking) to nfsd, and sends nfsd's reply back: inline, or
 * through the client's reply chunk (RDMA Write + RDMA_NOMSG). It needs
 * no XDR knowledge of NFS.
 *
 * On command it corrupts the reply to every Nth Call, one fault kind at
 * a time (see the mode table below and Documentation/hostile-peer.md),
 * and counts what it sent.
 *
 *   xprs-hostile [-a ADDR] [-p PORT] [-n NFSADDR] [-N NFSPORT]
 *                [-c CTLFIFO] [-s STATSFILE] [-S SEED] [-v]
 *
 * Commands, one a line, written to the control FIFO:
 *   mode NAME [EVERY [read]]
 *                       corrupt the reply to every EVERY-th Call (default
 *                       1); with "read", only replies to NFSv3 READ count
 *   setup COUNT         drop the current connection; the next COUNT
 *                       connection attempts each meet a setup fault
 *   dump SEQ            write the counters to STATSFILE, with "seq SEQ"
 *   quit
 *
 * Nothing that arrives from the wire may crash it: every length is
 * checked against the message that carried it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* RFC 8166 */
#define RPCRDMA_VERSION 1
#define RDMA_MSG 0
#define RDMA_NOMSG 1
#define RDMA_MSGP 2
#define RDMA_DONE 3
#define RDMA_ERROR 4
#define ERR_VERS 1
#define ERR_CHUNK 2
/* RFC 8797 */
#define CM_MAGIC 0xf6ab0e18u

#define HDR_MIN 28		/* xid vers credits proc + three empty lists */
#define INLINE 4096		/* what we offer both ways */
#define CREDITS 32		/* our grant */
#define NRECV 128		/* Receives kept posted */
#define NSEND 256		/* Send slots */
#define SLOT_SIZE 8192		/* room for oversized messages */
#define MAX_SEGS 16
#define MAX_WCHUNKS 4
#define MAX_CONNS 4
#define MAX_PENDING 1024
#define MAX_CHUNK_BYTES (16u << 20)

enum wr_kind { WR_RECV = 1, WR_SEND = 2, WR_READ = 3 };
#define WR_ID(kind, v) (((uint64_t)(kind) << 60) | (uint64_t)(v))
#define WR_KIND(id) ((int)((id) >> 60))
#define WR_VAL(id) ((id) & ((1ull << 60) - 1))

struct seg {
	uint32_t handle, len;
	uint64_t off;
};

struct rseg {
	uint32_t pos;
	struct seg s;
};

struct conn {
	int used;
	unsigned int gen;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	uint8_t *rbuf;
	struct ibv_mr *rmr;
	uint8_t *sbuf;
	struct ibv_mr *smr;
	int sfree[NSEND];
	int nsfree;
	struct {
		struct ibv_mr *mr;
		void *buf;
	} sx[NSEND];
	int established;
	int closing;
	uint32_t max_send;	/* the client's receive size */
	int bad_private;	/* accepted with private data to be ignored */
	unsigned long calls;
};

struct call {
	struct call *next;
	struct conn *conn;
	unsigned int gen;
	uint32_t xid;		/* as on the wire */
	int proc;
	int nread;
	struct rseg rd[MAX_SEGS];
	int nwch;
	int wsegs[MAX_WCHUNKS];
	struct seg wr[MAX_WCHUNKS][MAX_SEGS];
	int has_rep;
	int nrep;
	struct seg rp[MAX_SEGS];
	uint8_t *inl;
	uint32_t inl_len;
	uint8_t *rdbuf;
	uint32_t rdlen;
	struct ibv_mr *rdmr;
	int reads_left;
	int read_err;
	int forwarded;
	int nfs3_read;		/* an NFSv3 READ: its data may go by DDP */
};

/* Fault modes. Each injection is counted in its mode's row. */
enum mode {
	M_CLEAN, M_DUP, M_BADXID, M_UNSOL, M_HDR, M_CREDITS, M_TRUNC,
	M_WLIST, M_RCHUNK, M_BIGLEN, M_RDMAERR, M_INV_BAD, M_INV_OTHER,
	M_EARLY, M_DISC, M_SETUP, M_NMODES
};

static const char *const mode_names[M_NMODES] = {
	"clean", "dup", "badxid", "unsol", "hdr", "credits", "trunc",
	"wlist", "rchunk", "biglen", "rdmaerr", "inv_bad", "inv_other",
	"early", "disc", "setup",
};

static struct {
	unsigned long injected[M_NMODES];
	unsigned long calls, replies, inline_replies, chunk_replies,
		read_chunks, ddp_replies, conns, rejected, disconnects, nfsd_orphans,
		no_slot, too_big, bad_calls, send_errors, recv_errors,
		no_rkey, nfsd_reconnects;
} st;

static const char *listen_addr = "10.0.2.15";
static int listen_port = 20050;
static const char *nfs_addr = "127.0.0.1";
static int nfs_port = 2049;
static const char *ctl_path = "/run/xprs-hostile.ctl";
static const char *stats_path = "/run/xprs-hostile.stats";
static int verbose;
static int quiet;		/* the self-test's bad records are expected */

static enum mode cur_mode = M_CLEAN;
static unsigned long cur_every = 1;
static int cur_reads_only;	/* strike only replies to NFSv3 READ */
static unsigned long reply_seq;	/* replies built, for "every N" */
static unsigned long variant[M_NMODES];
static int setup_left;		/* connection attempts that meet a fault */
static uint32_t last_rkey;	/* a handle some earlier Call offered */
static int have_last_rkey;
static uint8_t last_reply[INLINE];	/* the previous real reply as sent */
static uint32_t last_reply_len;

static struct rdma_event_channel *cm_ch;
static struct rdma_cm_id *listen_id;
static struct conn conns[MAX_CONNS];
static unsigned int conn_gen;
static struct call *pending;
static int npending;
static int tcp_fd = -1;
static uint8_t *tcp_in;
static size_t tcp_in_len, tcp_in_cap;
static uint8_t *frag;
static size_t frag_len, frag_cap;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static volatile sig_atomic_t stop;

static void logit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logit(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (quiet)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[%ld.%03ld] xprs-hostile: ", (long)ts.tv_sec,
		ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define vlog(...) do { if (verbose) logit(__VA_ARGS__); } while (0)

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static uint64_t get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

/* A writer into a bounded buffer; overflow is sticky and checked once. */
struct wbuf {
	uint8_t *p;
	uint32_t len, cap;
	int over;
};

static void w32(struct wbuf *w, uint32_t v)
{
	if (w->len + 4 > w->cap) {
		w->over = 1;
		return;
	}
	put32(w->p + w->len, v);
	w->len += 4;
}

static void wseg(struct wbuf *w, uint32_t handle, uint32_t len, uint64_t off)
{
	w32(w, handle);
	w32(w, len);
	w32(w, (uint32_t)(off >> 32));
	w32(w, (uint32_t)off);
}

static void wbytes(struct wbuf *w, const void *src, uint32_t n)
{
	if (n > w->cap - w->len) {
		w->over = 1;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

/* ---------------------------------------------------------------- stats */

static void dump_stats(const char *seq)
{
	char tmp[512];
	FILE *f;
	int m;

	snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
	f = fopen(tmp, "w");
	if (!f) {
		logit("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "seq %s\nmode %s %lu%s\n", seq, mode_names[cur_mode], cur_every,
		cur_reads_only ? " read" : "");
	for (m = 0; m < M_NMODES; m++)
		fprintf(f, "injected %s %lu\n", mode_names[m], st.injected[m]);
#define S(x) fprintf(f, "stat %s %lu\n", #x, st.x)
	S(calls); S(replies); S(inline_replies); S(chunk_replies);
	S(read_chunks); S(ddp_replies); S(conns); S(rejected); S(disconnects);
	S(nfsd_orphans); S(no_slot); S(too_big); S(bad_calls);
	S(send_errors); S(recv_errors); S(no_rkey); S(nfsd_reconnects);
#undef S
	fprintf(f, "stat pending %d\n", npending);
	fclose(f);
	if (rename(tmp, stats_path))
		logit("rename %s: %s", tmp, strerror(errno));
}

/* ---------------------------------------------------------------- calls */

static void call_free(struct call *c)
{
	if (c->rdmr)
		ibv_dereg_mr(c->rdmr);
	free(c->rdbuf);
	free(c->inl);
	free(c);
}

static void call_unlink(struct call *c)
{
	struct call **pp;

	for (pp = &pending; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			npending--;
			return;
		}
}

static struct call *call_find(uint32_t xid)
{
	struct call *c;

	for (c = pending; c; c = c->next)
		if (c->xid == xid)
			return c;
	return NULL;
}

/* A newer Call with the same XID (a retransmission) replaces an older one. */
static void call_insert(struct call *c)
{
	struct call *old, **pp;

	old = call_find(c->xid);
	if (old && old->reads_left == 0) {
		call_unlink(old);
		call_free(old);
	}
	if (npending >= MAX_PENDING) {
		/* Evict the oldest that no RDMA Read refers to. */
		struct call **victim = NULL;

		for (pp = &pending; *pp; pp = &(*pp)->next)
			if ((*pp)->reads_left == 0)
				victim = pp;
		if (victim) {
			old = *victim;
			*victim = old->next;
			npending--;
			call_free(old);
		}
	}
	c->next = pending;
	pending = c;
	npending++;
}

/* ----------------------------------------------------------------- conn */

static int post_recv(struct conn *cn, int i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(cn->rbuf + (size_t)i * INLINE),
		.length = INLINE,
		.lkey = cn->rmr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = WR_ID(WR_RECV, i), .sg_list = &sge, .num_sge = 1,
	}, *bad;

	return ibv_post_recv(cn->id->qp, &wr, &bad);
}

static void conn_destroy(struct conn *cn)
{
	struct call **pp, *c;
	int i;

	if (!cn->used)
		return;
	for (pp = &pending; *pp;) {
		c = *pp;
		if (c->conn == cn) {
			*pp = c->next;
			npending--;
			call_free(c);
		} else {
			pp = &c->next;
		}
	}
	if (cn->id && cn->id->qp)
		rdma_destroy_qp(cn->id);
	for (i = 0; i < NSEND; i++) {
		if (cn->sx[i].mr)
			ibv_dereg_mr(cn->sx[i].mr);
		free(cn->sx[i].buf);
		cn->sx[i].mr = NULL;
		cn->sx[i].buf = NULL;
	}
	if (cn->rmr)
		ibv_dereg_mr(cn->rmr);
	if (cn->smr)
		ibv_dereg_mr(cn->smr);
	if (cn->cq)
		ibv_destroy_cq(cn->cq);
	if (cn->ch)
		ibv_destroy_comp_channel(cn->ch);
	if (cn->pd)
		ibv_dealloc_pd(cn->pd);
	free(cn->rbuf);
	free(cn->sbuf);
	if (cn->id)
		rdma_destroy_id(cn->id);
	vlog("conn %u destroyed", cn->gen);
	memset(cn, 0, sizeof(*cn));
}

static void conn_close(struct conn *cn)
{
	if (!cn->used || cn->closing)
		return;
	cn->closing = 1;
	st.disconnects++;
	if (rdma_disconnect(cn->id))
		vlog("rdma_disconnect: %s", strerror(errno));
}

static struct conn *conn_of_id(struct rdma_cm_id *id)
{
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].used && conns[i].id == id)
			return &conns[i];
	return NULL;
}

static struct conn *conn_setup(struct rdma_cm_id *id)
{
	struct ibv_qp_init_attr qa;
	struct conn *cn = NULL;
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (!conns[i].used) {
			cn = &conns[i];
			break;
		}
	if (!cn)
		return NULL;
	memset(cn, 0, sizeof(*cn));
	cn->used = 1;
	cn->gen = ++conn_gen;
	cn->id = id;
	cn->max_send = 1024;
	cn->pd = ibv_alloc_pd(id->verbs);
	if (!cn->pd)
		goto fail;
	cn->ch = ibv_create_comp_channel(id->verbs);
	if (!cn->ch)
		goto fail;
	fcntl(cn->ch->fd, F_SETFL, fcntl(cn->ch->fd, F_GETFL) | O_NONBLOCK);
	cn->cq = ibv_create_cq(id->verbs, 2 * (NRECV + NSEND + 64), NULL, cn->ch, 0);
	if (!cn->cq || ibv_req_notify_cq(cn->cq, 0))
		goto fail;
	cn->rbuf = calloc(NRECV, INLINE);
	cn->sbuf = calloc(NSEND, SLOT_SIZE);
	if (!cn->rbuf || !cn->sbuf)
		goto fail;
	cn->rmr = ibv_reg_mr(cn->pd, cn->rbuf, (size_t)NRECV * INLINE,
			     IBV_ACCESS_LOCAL_WRITE);
	cn->smr = ibv_reg_mr(cn->pd, cn->sbuf, (size_t)NSEND * SLOT_SIZE, 0);
	if (!cn->rmr || !cn->smr)
		goto fail;
	for (i = 0; i < NSEND; i++)
		cn->sfree[i] = NSEND - 1 - i;
	cn->nsfree = NSEND;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = cn->cq;
	qa.recv_cq = cn->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = NSEND + 2 * 64;
	qa.cap.max_recv_wr = NRECV;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, cn->pd, &qa))
		goto fail;
	for (i = 0; i < NRECV; i++)
		if (post_recv(cn, i))
			goto fail;
	return cn;
fail:
	logit("connection setup failed: %s", strerror(errno));
	if (id->qp)
		rdma_destroy_qp(id);
	cn->id = NULL;		/* the caller rejects and destroys it */
	conn_destroy(cn);
	return NULL;
}

/* -------------------------------------------------------------- sending */

/*
 * Post one Send of LEN bytes from SRC. OPCODE is IBV_WR_SEND or
 * IBV_WR_SEND_WITH_INV (INV_RKEY then). XMR/XBUF are released when the
 * Send completes (the reply chunk's source buffer).
 */
static int post_send(struct conn *cn, const void *src, uint32_t len,
		     enum ibv_wr_opcode opcode, uint32_t inv_rkey,
		     struct ibv_mr *xmr, void *xbuf)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	int slot;

	if (!cn->used || cn->closing || !cn->established || !cn->nsfree ||
	    len > SLOT_SIZE) {
		st.no_slot++;
		if (xmr)
			ibv_dereg_mr(xmr);
		free(xbuf);
		return -1;
	}
	slot = cn->sfree[--cn->nsfree];
	memcpy(cn->sbuf + (size_t)slot * SLOT_SIZE, src, len);
	cn->sx[slot].mr = xmr;
	cn->sx[slot].buf = xbuf;
	sge.addr = (uintptr_t)(cn->sbuf + (size_t)slot * SLOT_SIZE);
	sge.length = len;
	sge.lkey = cn->smr->lkey;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = WR_ID(WR_SEND, slot);
	wr.sg_list = &sge;
	wr.num_sge = len ? 1 : 0;
	wr.opcode = opcode;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (opcode == IBV_WR_SEND_WITH_INV)
		wr.invalidate_rkey = inv_rkey;
	if (ibv_post_send(cn->id->qp, &wr, &bad)) {
		st.send_errors++;
		vlog("post_send: %s", strerror(errno));
		cn->sx[slot].mr = NULL;
		cn->sx[slot].buf = NULL;
		cn->sfree[cn->nsfree++] = slot;
		if (xmr)
			ibv_dereg_mr(xmr);
		free(xbuf);
		return -1;
	}
	return 0;
}

static void send_msg(struct conn *cn, const void *src, uint32_t len)
{
	post_send(cn, src, len, IBV_WR_SEND, 0, NULL, NULL);
}

/* The transport header of a reply: xid vers credits proc. */
static void hdr(struct wbuf *w, uint32_t xid, uint32_t vers, uint32_t credits,
		uint32_t proc)
{
	if (w->cap < 16) {
		w->over = 1;
		return;
	}
	memcpy(w->p, &xid, 4);
	w->len = 4;
	w32(w, vers);
	w32(w, credits);
	w32(w, proc);
}

/* The honest inline reply: RDMA_MSG, three empty lists, the RPC message. */
static uint32_t build_inline(uint8_t *out, uint32_t cap, uint32_t xid,
			     uint32_t credits, const uint8_t *msg, uint32_t len)
{
	struct wbuf w = { out, 0, cap, 0 };

	hdr(&w, xid, RPCRDMA_VERSION, credits, RDMA_MSG);
	w32(&w, 0);
	w32(&w, 0);
	w32(&w, 0);
	wbytes(&w, msg, len);
	return w.over ? 0 : w.len;
}

/*
 * Write MSG into the Call's reply chunk and send RDMA_NOMSG. Returns -1
 * when the chunk is too small or a post fails.
 */
static int send_via_reply_chunk(struct conn *cn, struct call *c,
				const uint8_t *msg, uint32_t len,
				uint32_t credits, enum ibv_wr_opcode op,
				uint32_t inv)
{
	uint8_t h[HDR_MIN + 8 + MAX_SEGS * 16];
	struct wbuf w = { h, 0, sizeof(h), 0 };
	uint32_t total = 0, done = 0, n;
	struct ibv_mr *mr;
	void *buf;
	int i;

	for (i = 0; i < c->nrep; i++)
		total += c->rp[i].len;
	if (total < len)
		return -1;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -1;
	memcpy(buf, msg, len);
	mr = ibv_reg_mr(cn->pd, buf, len ? len : 1, 0);
	if (!mr) {
		free(buf);
		return -1;
	}
	hdr(&w, c->xid, RPCRDMA_VERSION, credits, RDMA_NOMSG);
	w32(&w, 0);
	w32(&w, 0);
	w32(&w, 1);
	w32(&w, (uint32_t)c->nrep);
	for (i = 0; i < c->nrep; i++) {
		n = c->rp[i].len < len - done ? c->rp[i].len : len - done;
		if (n) {
			struct ibv_sge sge = {
				.addr = (uintptr_t)buf + done, .length = n,
				.lkey = mr->lkey,
			};
			struct ibv_send_wr wr, *bad;

			memset(&wr, 0, sizeof(wr));
			wr.wr_id = 0;
			wr.sg_list = &sge;
			wr.num_sge = 1;
			wr.opcode = IBV_WR_RDMA_WRITE;
			wr.wr.rdma.remote_addr = c->rp[i].off;
			wr.wr.rdma.rkey = c->rp[i].handle;
			if (ibv_post_send(cn->id->qp, &wr, &bad)) {
				st.send_errors++;
				ibv_dereg_mr(mr);
				free(buf);
				return -1;
			}
		}
		wseg(&w, c->rp[i].handle, n, c->rp[i].off);
		done += n;
	}
	if (w.over) {
		ibv_dereg_mr(mr);
		free(buf);
		return -1;
	}
	st.chunk_replies++;
	return post_send(cn, h, w.len, op, inv, mr, buf);
}

/* A handle the Call offered, if it offered any. */
static int call_rkey(const struct call *c, uint32_t *rkey)
{
	if (c->has_rep && c->nrep) {
		*rkey = c->rp[0].handle;
		return 1;
	}
	if (c->nwch && c->wsegs[0]) {
		*rkey = c->wr[0][0].handle;
		return 1;
	}
	return 0;
}

static uint32_t round4(uint32_t n)
{
	return (n + 3) & ~3u;
}

/*
 * The NFSv3 READ reply MSG with its data moved into the Call's first
 * write chunk (RFC 8166 DDP, RFC 8267 for NFS): RDMA Write of the data,
 * then RDMA_MSG with the write list's written lengths and the rest of
 * the reply inline, the data's XDR pad left out. Returns -1 if MSG is not
 * a successful READ reply or does not fit; the caller then falls back.
 */
/*
 * Finds the data of a successful NFSv3 READ reply: its offset, length, and
 * where the reply continues after the data's XDR pad. -1 if MSG is no
 * such reply.
 */
static int ddp_parse(const uint8_t *msg, uint32_t len, uint32_t *doff,
		     uint32_t *dlen, uint32_t *tail)
{
	uint32_t off, n;

	if (len < 28 || get32(msg + 4) != 1 || get32(msg + 8) != 0)
		return -1;
	off = 16;
	n = get32(msg + off);
	if (n > 400)
		return -1;
	off += 4 + round4(n);
	/* accept_stat, nfsstat3, attributes_follow */
	if (off > len || len - off < 12 || get32(msg + off) != 0 ||
	    get32(msg + off + 4) != 0)
		return -1;
	off += 8;
	if (get32(msg + off) == 1)
		off += 84;
	off += 4;
	/* count, eof, data<> */
	if (off > len || len - off < 12)
		return -1;
	off += 8;
	n = get32(msg + off);
	off += 4;
	if (n > len - off)
		return -1;
	*doff = off;
	*dlen = n;
	*tail = off + n;
	if (round4(n) - n <= len - *tail)
		*tail += round4(n) - n;
	return 0;
}

static int send_ddp(struct conn *cn, struct call *c, const uint8_t *msg,
		    uint32_t len, uint32_t credits, enum ibv_wr_opcode op,
		    uint32_t inv)
{
	uint8_t out[INLINE];
	struct wbuf w = { out, 0, sizeof(out), 0 };
	uint32_t off, dlen, tail, total = 0, done = 0, n;
	struct ibv_mr *mr;
	void *buf;
	int i, ns = c->wsegs[0];

	if (ddp_parse(msg, len, &off, &dlen, &tail))
		return -1;
	for (i = 0; i < ns; i++)
		total += c->wr[0][i].len;
	if (dlen > total || !dlen)
		return -1;

	hdr(&w, c->xid, RPCRDMA_VERSION, credits, RDMA_MSG);
	w32(&w, 0);
	w32(&w, 1);
	w32(&w, (uint32_t)ns);
	for (i = 0; i < ns; i++) {
		n = c->wr[0][i].len < dlen - done ? c->wr[0][i].len : dlen - done;
		wseg(&w, c->wr[0][i].handle, n, c->wr[0][i].off);
		done += n;
	}
	w32(&w, 0);
	w32(&w, 0);
	wbytes(&w, msg, off);
	wbytes(&w, msg + tail, len - tail);
	if (w.over || w.len > cn->max_send)
		return -1;

	buf = malloc(dlen);
	if (!buf)
		return -1;
	memcpy(buf, msg + off, dlen);
	mr = ibv_reg_mr(cn->pd, buf, dlen, 0);
	if (!mr) {
		free(buf);
		return -1;
	}
	done = 0;
	for (i = 0; i < ns && done < dlen; i++) {
		struct ibv_sge sge;
		struct ibv_send_wr wr, *bad;

		n = c->wr[0][i].len < dlen - done ? c->wr[0][i].len : dlen - done;
		if (!n)
			continue;
		sge.addr = (uintptr_t)buf + done;
		sge.length = n;
		sge.lkey = mr->lkey;
		memset(&wr, 0, sizeof(wr));
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = c->wr[0][i].off;
		wr.wr.rdma.rkey = c->wr[0][i].handle;
		if (ibv_post_send(cn->id->qp, &wr, &bad)) {
			st.send_errors++;
			ibv_dereg_mr(mr);
			free(buf);
			return -1;
		}
		done += n;
	}
	st.ddp_replies++;
	return post_send(cn, out, w.len, op, inv, mr, buf);
}

/* Send the honest reply MSG for Call C (inline, DDP, or via its reply chunk). */
static void send_real(struct conn *cn, struct call *c, const uint8_t *msg,
		      uint32_t len, uint32_t credits, enum ibv_wr_opcode op,
		      uint32_t inv)
{
	uint8_t out[INLINE];
	uint32_t n;

	if (c->nfs3_read && c->nwch && c->wsegs[0] &&
	    !send_ddp(cn, c, msg, len, credits, op, inv))
		return;
	if (HDR_MIN + len <= cn->max_send) {
		n = build_inline(out, sizeof(out), c->xid, credits, msg, len);
		if (n && !post_send(cn, out, n, op, inv, NULL, NULL)) {
			st.inline_replies++;
			memcpy(last_reply, out, n);
			last_reply_len = n;
		}
		return;
	}
	if (c->has_rep && !send_via_reply_chunk(cn, c, msg, len, credits, op, inv))
		return;
	/* Too large and no usable reply chunk: say so. */
	st.too_big++;
	{
		struct wbuf w = { out, 0, sizeof(out), 0 };

		hdr(&w, c->xid, RPCRDMA_VERSION, credits, RDMA_ERROR);
		w32(&w, ERR_CHUNK);
		send_msg(cn, out, w.len);
	}
}

/* ---------------------------------------------------------------- faults */

/* An XID nothing pending uses. */
static uint32_t fresh_xid(void)
{
	uint32_t x;

	do
		x = rnd() ^ 0xa5000000u;
	while (call_find(x));
	return x;
}

/* mode hdr: a copy of the reply with one field out of range. */
static uint32_t build_hdr_fault(uint8_t *out, uint32_t cap, struct call *c,
				const uint8_t *msg, uint32_t len, unsigned long v)
{
	struct wbuf w = { out, 0, cap, 0 };
	uint32_t rl = len < 512 ? len : 512;	/* some RPC bytes after */
	uint32_t tot = 0;
	int i;

	switch (v % 18) {
	case 0: hdr(&w, c->xid, 0, CREDITS, RDMA_MSG); goto lists;
	case 1: hdr(&w, c->xid, 2, CREDITS, RDMA_MSG); goto lists;
	case 2: hdr(&w, c->xid, 0xffffffffu, CREDITS, RDMA_MSG); goto lists;
	case 3: hdr(&w, c->xid, 1, CREDITS, 5); goto lists;
	case 4: hdr(&w, c->xid, 1, CREDITS, 0xffffffffu); goto lists;
	case 5: hdr(&w, c->xid, 1, CREDITS, RDMA_MSGP); goto lists;
	case 6: hdr(&w, c->xid, 1, CREDITS, RDMA_DONE); goto lists;
	case 7:	/* read list discriminator 2 */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 2); w32(&w, 0); w32(&w, 0);
		break;
	case 8:	/* write list discriminator 0xffffffff */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 0xffffffffu); w32(&w, 0);
		break;
	case 9:	/* reply chunk discriminator 2 */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 2);
		break;
	case 10: /* a read list in a reply */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 1); w32(&w, 0); wseg(&w, rnd(), 64, rnd());
		w32(&w, 0); w32(&w, 0); w32(&w, 0);
		break;
	case 11: /* write chunk segment count 0xffffffff */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 1); w32(&w, 0xffffffffu);
		wseg(&w, rnd(), 8, rnd());
		break;
	case 12: /* write chunk of 1000 segments, past the message */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 1); w32(&w, 1000);
		wseg(&w, rnd(), 8, rnd());
		break;
	case 13: /* reply chunk of 0x40000000 segments */
		hdr(&w, c->xid, 1, CREDITS, RDMA_NOMSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 1); w32(&w, 0x40000000u);
		wseg(&w, rnd(), 8, rnd());
		return w.over ? 0 : w.len;
	case 14: /* RDMA_NOMSG without a reply chunk */
		hdr(&w, c->xid, 1, CREDITS, RDMA_NOMSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 0);
		return w.over ? 0 : w.len;
	case 15: /* RDMA_MSG with a reply chunk and the reply inline */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 1); w32(&w, 1);
		wseg(&w, c->has_rep && c->nrep ? c->rp[0].handle : rnd(), len, 0);
		break;
	case 16: /* two write chunks, each past anything offered */
		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0);
		for (i = 0; i < 2; i++) {
			w32(&w, 1); w32(&w, 1); wseg(&w, rnd(), 4096, rnd());
		}
		w32(&w, 0); w32(&w, 0);
		break;
	default: /* reply chunk longer than what was offered */
		if (c->has_rep)
			for (i = 0; i < c->nrep; i++)
				tot += c->rp[i].len;
		hdr(&w, c->xid, 1, CREDITS, RDMA_NOMSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 1); w32(&w, 1);
		wseg(&w, c->has_rep && c->nrep ? c->rp[0].handle : rnd(),
		     tot + 4096, 0);
		return w.over ? 0 : w.len;
	}
	wbytes(&w, msg, rl);
	return w.over ? 0 : w.len;
lists:
	w32(&w, 0); w32(&w, 0); w32(&w, 0);
	wbytes(&w, msg, rl);
	return w.over ? 0 : w.len;
}

/* mode trunc: 0..27 bytes of the real header, then cuts inside lists. */
static uint32_t build_trunc(uint8_t *out, uint32_t cap, struct call *c,
			    const uint8_t *msg, uint32_t len, unsigned long v)
{
	struct wbuf w = { out, 0, cap, 0 };
	unsigned long k = v % 40;

	if (k < 28) {
		uint32_t n = build_inline(out, cap, c->xid, CREDITS, msg, len);

		return n >= k ? (uint32_t)k : n;
	}
	/* A write list of one chunk of two segments, cut at 28 + 4j bytes
	 * (j < 12), so the cut falls on every word of the lists. */
	hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
	w32(&w, 0); w32(&w, 1); w32(&w, 2);
	wseg(&w, rnd(), 512, rnd());
	wseg(&w, rnd(), 512, rnd());
	w32(&w, 0); w32(&w, 0);
	if (w.over)
		return 0;
	return 20 + 4 * (uint32_t)(k - 28);
}

static uint32_t build_unsol(uint8_t *out, uint32_t cap, unsigned long v)
{
	struct wbuf w = { out, 0, cap, 0 };
	uint32_t n, i, x = fresh_xid();

	switch (v % 6) {
	case 0:	/* random bytes */
		n = rnd() % (INLINE + 1);
		for (i = 0; i < n; i++)
			out[i] = (uint8_t)rnd();
		return n;
	case 1:	/* a valid-looking header, random proc and lists */
		hdr(&w, x, 1, rnd() % 64, rnd() % 6);
		for (i = 0; i < 8; i++)
			w32(&w, rnd() % 3);
		return w.over ? 0 : w.len;
	case 2:	/* an RPC Call on the forward channel (no backchannel) */
		hdr(&w, x, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 0);
		memcpy(w.p + w.len, &x, 4);
		w.len += 4;
		w32(&w, 0); w32(&w, 2); w32(&w, 100003); w32(&w, 3); w32(&w, 0);
		w32(&w, 0); w32(&w, 0); w32(&w, 0); w32(&w, 0);
		return w.over ? 0 : w.len;
	case 3:	/* an empty Send */
		return 0;
	case 4:	/* longer than the client's receive buffers */
		n = INLINE + 4 + rnd() % 64;
		if (n > cap)
			n = cap;
		hdr(&w, x, 1, CREDITS, RDMA_MSG);
		memset(out + 16, 0, n - 16);
		return n;
	default: /* an RPC reply for an XID never sent */
		hdr(&w, x, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 0);
		memcpy(w.p + w.len, &x, 4);
		w.len += 4;
		w32(&w, 1); w32(&w, 0); w32(&w, 0); w32(&w, 0); w32(&w, 0);
		w32(&w, 0);
		return w.over ? 0 : w.len;
	}
}

static uint32_t build_rdmaerr(uint8_t *out, uint32_t cap, struct call *c,
			      unsigned long v)
{
	struct wbuf w = { out, 0, cap, 0 };

	hdr(&w, c->xid, 1, CREDITS, RDMA_ERROR);
	switch (v % 8) {
	case 0: w32(&w, ERR_VERS); w32(&w, 1); w32(&w, 1); break;
	case 1: w32(&w, ERR_VERS); w32(&w, 2); w32(&w, 3); break;
	case 2: w32(&w, ERR_VERS); w32(&w, 0xffffffffu); w32(&w, 0); break;
	case 3: w32(&w, ERR_VERS); break;	/* range missing */
	case 4: w32(&w, ERR_CHUNK); break;
	case 5: w32(&w, 0); break;
	case 6: w32(&w, 3 + rnd() % 0xfff0u); break;
	default: break;				/* no code at all */
	}
	return w.over ? 0 : w.len;
}

/*
 * Reply to Call C with nfsd's RPC reply MSG, corrupted as the mode says.
 * Most faults send a bad message and then the real reply, so that a
 * client that drops the bad one still completes the RPC without a
 * retransmit timeout, and one that fails the RPC sees the real reply
 * as unmatched.
 */
static void respond(struct conn *cn, struct call *c, const uint8_t *msg,
		    uint32_t len)
{
	uint8_t out[SLOT_SIZE];
	enum mode m = cur_mode;
	unsigned long v;
	uint32_t n, rkey;
	int inject;

	st.replies++;
	reply_seq++;
	if (cur_reads_only && !c->nfs3_read) {
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		return;
	}
	inject = m != M_CLEAN && m != M_SETUP && m != M_EARLY &&
		 reply_seq % cur_every == 0;
	if (!inject) {
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		return;
	}
	v = variant[m]++;
	switch (m) {
	case M_DUP:
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		if (HDR_MIN + len <= cn->max_send) {
			n = build_inline(out, sizeof(out), c->xid, CREDITS, msg, len);
			if (n)
				send_msg(cn, out, n);
		} else {
			send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		}
		break;
	case M_BADXID:
		if (v % 2 && last_reply_len) {
			/* the previous reply, replayed */
			send_msg(cn, last_reply, last_reply_len);
		} else {
			n = build_inline(out, sizeof(out), fresh_xid(), CREDITS,
					 msg, len < 2048 ? len : 2048);
			send_msg(cn, out, n);
		}
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	case M_UNSOL:
		n = build_unsol(out, sizeof(out), v);
		send_msg(cn, out, n);
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	case M_HDR:
		n = build_hdr_fault(out, sizeof(out), c, msg, len, v);
		send_msg(cn, out, n);
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	case M_CREDITS: {
		static const uint32_t cr[] = { 0, 0xffffffffu, 0x80000000u, 0 };

		/* The real reply itself, with a credit grant out of range. */
		send_real(cn, c, msg, len, cr[v % 4], IBV_WR_SEND, 0);
		break;
	}
	case M_TRUNC:
		n = build_trunc(out, sizeof(out), c, msg, len, v);
		send_msg(cn, out, n);
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	case M_WLIST: {
		/* RDMA_MSG, a write list we never offered (one segment,
		 * random handle, length 4..1024) and the reply inline. */
		struct wbuf w = { out, 0, sizeof(out), 0 };

		hdr(&w, c->xid, 1, CREDITS, RDMA_MSG);
		w32(&w, 0); w32(&w, 1); w32(&w, 1);
		wseg(&w, rnd(), 4 + rnd() % 1021, (uint64_t)rnd() << 12);
		w32(&w, 0); w32(&w, 0);
		wbytes(&w, msg, len);
		if (!w.over && w.len <= cn->max_send)
			send_msg(cn, out, w.len);
		else
			st.injected[m]--;
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	}
	case M_RCHUNK: {
		/* RDMA_NOMSG, a reply chunk we never offered of the real
		 * reply's length; nothing written. */
		struct wbuf w = { out, 0, sizeof(out), 0 };

		hdr(&w, c->xid, 1, CREDITS, RDMA_NOMSG);
		w32(&w, 0); w32(&w, 0); w32(&w, 1); w32(&w, 1);
		wseg(&w, rnd(), len, (uint64_t)rnd() << 12);
		send_msg(cn, out, w.len);
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	}
	case M_BIGLEN: {
		/* A write segment of length 0x7ffffffc (or 0xfffffffc),
		 * the reply inline. */
		struct wbuf w = { out, 0, sizeof(out), 0 };

		hdr(&w, c->xid, 1, CREDITS, v % 2 ? RDMA_NOMSG : RDMA_MSG);
		w32(&w, 0);
		if (v % 2) {
			w32(&w, 0); w32(&w, 1); w32(&w, 1);
			wseg(&w, rnd(), v % 4 == 1 ? 0x7ffffffcu : 0xfffffffcu, 0);
		} else {
			w32(&w, 1); w32(&w, 1);
			wseg(&w, rnd(), v % 4 == 0 ? 0x7ffffffcu : 0xfffffffcu, 0);
			w32(&w, 0); w32(&w, 0);
			wbytes(&w, msg, len < 2048 ? len : 2048);
		}
		send_msg(cn, out, w.over ? 0 : w.len);
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	}
	case M_RDMAERR:
		n = build_rdmaerr(out, sizeof(out), c, v);
		send_msg(cn, out, n);
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		break;
	case M_INV_BAD:
		/* The real reply, as Send With Invalidate of a handle no one
		 * offered. */
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND_WITH_INV,
			  rnd() | 1);
		break;
	case M_INV_OTHER: {
		/* The real reply, invalidating another XID's offered handle. */
		struct call *o;
		int found = 0;

		for (o = pending; o; o = o->next)
			if (o != c && o->conn == cn && call_rkey(o, &rkey)) {
				found = 1;
				break;
			}
		if (!found && have_last_rkey) {
			uint32_t own;

			if (!call_rkey(c, &own) || own != last_rkey) {
				rkey = last_rkey;
				found = 1;
			}
		}
		if (!found) {
			st.no_rkey++;
			variant[m]--;
			send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
			return;
		}
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND_WITH_INV, rkey);
		break;
	}
	case M_DISC:
		if (v % 2) {
			send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
			vlog("disconnecting after a reply");
		} else {
			vlog("disconnecting instead of a reply");
		}
		conn_close(cn);
		break;
	default:
		send_real(cn, c, msg, len, CREDITS, IBV_WR_SEND, 0);
		return;
	}
	st.injected[m]++;
}

/* mode early: answer at once, before the Call's Send has completed at the
 * client, with an RPC-level SYSTEM_ERR, and do not forward. */
static void respond_early(struct conn *cn, struct call *c)
{
	uint8_t rpc[24];
	struct wbuf w = { rpc, 0, sizeof(rpc), 0 };
	uint8_t out[64];
	uint32_t n;

	memcpy(rpc, &c->xid, 4);
	w.len = 4;
	w32(&w, 1);	/* REPLY */
	w32(&w, 0);	/* MSG_ACCEPTED */
	w32(&w, 0);	/* AUTH_NONE verifier */
	w32(&w, 0);
	w32(&w, 5);	/* SYSTEM_ERR */
	n = build_inline(out, sizeof(out), c->xid, CREDITS, rpc, w.len);
	send_msg(cn, out, n);
	st.injected[M_EARLY]++;
}

/* ------------------------------------------------------------------ nfsd */

static int tcp_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1;

	if (tcp_fd >= 0)
		return 0;
	tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp_fd < 0)
		return -1;
	sa.sin_port = htons((uint16_t)nfs_port);
	inet_pton(AF_INET, nfs_addr, &sa.sin_addr);
	if (connect(tcp_fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(tcp_fd);
		tcp_fd = -1;
		return -1;
	}
	setsockopt(tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tcp_in_len = 0;
	frag_len = 0;
	st.nfsd_reconnects++;
	vlog("connected to nfsd %s:%d", nfs_addr, nfs_port);
	return 0;
}

static void tcp_drop(void)
{
	if (tcp_fd >= 0)
		close(tcp_fd);
	tcp_fd = -1;
	tcp_in_len = 0;
	frag_len = 0;
}

static int write_all(int fd, const struct iovec *iov, int n)
{
	struct iovec v[3];
	ssize_t r;
	int i;

	memcpy(v, iov, sizeof(*iov) * (size_t)n);
	i = 0;
	while (i < n) {
		r = writev(fd, v + i, n - i);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (i < n && (size_t)r >= v[i].iov_len) {
			r -= (ssize_t)v[i].iov_len;
			i++;
		}
		if (i < n) {
			v[i].iov_base = (char *)v[i].iov_base + r;
			v[i].iov_len -= (size_t)r;
		}
	}
	return 0;
}

static void forward(struct call *c, const uint8_t *msg, uint32_t len)
{
	uint8_t mark[4];
	struct iovec iov[2];

	if (tcp_connect()) {
		vlog("nfsd unreachable: %s", strerror(errno));
		return;
	}
	/* An NFSv3 READ Call: xid CALL rpcvers=2 prog=100003 vers=3 proc=6 */
	c->nfs3_read = len >= 24 && get32(msg + 4) == 0 && get32(msg + 8) == 2 &&
		       get32(msg + 12) == 100003 && get32(msg + 16) == 3 &&
		       get32(msg + 20) == 6;
	put32(mark, 0x80000000u | len);
	iov[0].iov_base = mark;
	iov[0].iov_len = 4;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	if (write_all(tcp_fd, iov, 2)) {
		vlog("write to nfsd: %s", strerror(errno));
		tcp_drop();
		return;
	}
	c->forwarded = 1;
}

static void nfsd_reply(const uint8_t *msg, uint32_t len)
{
	struct call *c;
	uint32_t xid;

	if (len < 4)
		return;
	memcpy(&xid, msg, 4);
	c = call_find(xid);
	if (!c || !c->conn || c->conn->gen != c->gen || !c->conn->used ||
	    c->conn->closing || !c->conn->established) {
		st.nfsd_orphans++;
		if (c) {
			call_unlink(c);
			call_free(c);
		}
		return;
	}
	call_unlink(c);
	respond(c->conn, c, msg, len);
	call_free(c);
}

static void tcp_input(void)
{
	size_t off = 0;
	ssize_t r;

	if (tcp_in_cap - tcp_in_len < 65536) {
		size_t cap = tcp_in_cap ? tcp_in_cap * 2 : 262144;
		uint8_t *p = realloc(tcp_in, cap);

		if (!p) {
			tcp_drop();
			return;
		}
		tcp_in = p;
		tcp_in_cap = cap;
	}
	r = read(tcp_fd, tcp_in + tcp_in_len, tcp_in_cap - tcp_in_len);
	if (r <= 0) {
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		logit("nfsd closed the TCP connection");
		tcp_drop();
		return;
	}
	tcp_in_len += (size_t)r;
	for (;;) {
		uint32_t m, flen;

		if (tcp_in_len - off < 4)
			break;
		m = get32(tcp_in + off);
		flen = m & 0x7fffffffu;
		if (flen > MAX_CHUNK_BYTES || frag_len + flen > MAX_CHUNK_BYTES) {
			logit("nfsd sent a record of %u bytes; dropping TCP", flen);
			tcp_drop();
			return;
		}
		if (tcp_in_len - off - 4 < flen)
			break;
		if (frag_cap < frag_len + flen) {
			size_t cap = frag_len + flen + 65536;
			uint8_t *p = realloc(frag, cap);

			if (!p) {
				tcp_drop();
				return;
			}
			frag = p;
			frag_cap = cap;
		}
		memcpy(frag + frag_len, tcp_in + off + 4, flen);
		frag_len += flen;
		off += 4 + (size_t)flen;
		if (m & 0x80000000u) {
			nfsd_reply(frag, (uint32_t)frag_len);
			frag_len = 0;
			if (tcp_fd < 0)
				return;
		}
	}
	memmove(tcp_in, tcp_in + off, tcp_in_len - off);
	tcp_in_len -= off;
}

/* ------------------------------------------------------------ receiving */

/* Reads one segment; 0 on success, -1 when it runs past the message. */
static int rd_seg(const uint8_t *b, uint32_t len, uint32_t *p, struct seg *s)
{
	if (len - *p < 16)
		return -1;
	s->handle = get32(b + *p);
	s->len = get32(b + *p + 4);
	s->off = get64(b + *p + 8);
	*p += 16;
	return 0;
}

static int rd32(const uint8_t *b, uint32_t len, uint32_t *p, uint32_t *v)
{
	if (len - *p < 4)
		return -1;
	*v = get32(b + *p);
	*p += 4;
	return 0;
}

/* Parses a Call's chunk lists into C; returns the header length or -1. */
static int parse_call(const uint8_t *b, uint32_t len, struct call *c)
{
	uint32_t p = 16, d, n, i;

	/* read list */
	for (;;) {
		if (rd32(b, len, &p, &d))
			return -1;
		if (d == 0)
			break;
		if (d != 1 || c->nread == MAX_SEGS)
			return -1;
		if (rd32(b, len, &p, &c->rd[c->nread].pos) ||
		    rd_seg(b, len, &p, &c->rd[c->nread].s))
			return -1;
		c->nread++;
	}
	/* write list */
	for (;;) {
		if (rd32(b, len, &p, &d))
			return -1;
		if (d == 0)
			break;
		if (d != 1 || c->nwch == MAX_WCHUNKS)
			return -1;
		if (rd32(b, len, &p, &n) || n > MAX_SEGS)
			return -1;
		for (i = 0; i < n; i++)
			if (rd_seg(b, len, &p, &c->wr[c->nwch][i]))
				return -1;
		c->wsegs[c->nwch++] = (int)n;
	}
	/* reply chunk */
	if (rd32(b, len, &p, &d) || d > 1)
		return -1;
	if (d) {
		if (rd32(b, len, &p, &n) || n > MAX_SEGS)
			return -1;
		for (i = 0; i < n; i++)
			if (rd_seg(b, len, &p, &c->rp[i]))
				return -1;
		c->has_rep = 1;
		c->nrep = (int)n;
	}
	return (int)p;
}

/*
 * Builds the RPC message from the inline part and the read chunks pulled
 * into rdbuf, and forwards it. Position-zero chunks are the whole
 * message (RDMA_NOMSG); others are inserted at their XDR position.
 */
static void call_ready(struct call *c)
{
	uint8_t *msg;
	uint32_t len, i, rdoff = 0, inl_off = 0, out = 0, pos, clen;
	static const uint8_t zero[4];

	if (c->proc == RDMA_NOMSG || (c->nread && c->rd[0].pos == 0)) {
		forward(c, c->rdbuf, c->rdlen);
		return;
	}
	if (!c->nread) {
		forward(c, c->inl, c->inl_len);
		return;
	}
	len = c->inl_len + c->rdlen + 4 * (uint32_t)c->nread;
	msg = malloc(len);
	if (!msg)
		return;
	i = 0;
	while (i < (uint32_t)c->nread) {
		pos = c->rd[i].pos;
		clen = 0;
		/* inline bytes before this chunk */
		if (pos >= out && pos - out <= c->inl_len - inl_off) {
			memcpy(msg + out, c->inl + inl_off, pos - out);
			inl_off += pos - out;
			out = pos;
		}
		for (; i < (uint32_t)c->nread && c->rd[i].pos == pos; i++) {
			memcpy(msg + out, c->rdbuf + rdoff, c->rd[i].s.len);
			out += c->rd[i].s.len;
			rdoff += c->rd[i].s.len;
			clen += c->rd[i].s.len;
		}
		if (clen & 3) {
			memcpy(msg + out, zero, 4 - (clen & 3));
			out += 4 - (clen & 3);
		}
	}
	memcpy(msg + out, c->inl + inl_off, c->inl_len - inl_off);
	out += c->inl_len - inl_off;
	forward(c, msg, out);
	free(msg);
}

static void on_recv(struct conn *cn, int idx, uint32_t len)
{
	const uint8_t *b = cn->rbuf + (size_t)idx * INLINE;
	struct call *c;
	uint32_t vers, proc, total = 0, off = 0, rkey;
	int h, i;

	st.calls++;
	cn->calls++;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto repost;
	if (len < 16) {
		st.bad_calls++;
		goto drop;
	}
	memcpy(&c->xid, b, 4);
	vers = get32(b + 4);
	proc = get32(b + 12);
	if (vers != RPCRDMA_VERSION || (proc != RDMA_MSG && proc != RDMA_NOMSG)) {
		st.bad_calls++;
		vlog("dropping a Call with vers %u proc %u", vers, proc);
		goto drop;
	}
	c->proc = (int)proc;
	h = parse_call(b, len, c);
	if (h < 0) {
		st.bad_calls++;
		vlog("dropping a Call with malformed chunk lists");
		goto drop;
	}
	c->conn = cn;
	c->gen = cn->gen;
	c->inl_len = len - (uint32_t)h;
	c->inl = malloc(c->inl_len ? c->inl_len : 1);
	if (!c->inl)
		goto drop;
	memcpy(c->inl, b + h, c->inl_len);
	if (call_rkey(c, &rkey)) {
		last_rkey = rkey;
		have_last_rkey = 1;
	}
	if (post_recv(cn, idx))
		vlog("repost: %s", strerror(errno));
	idx = -1;

	if (cn->bad_private && setup_left > 0 && cn->calls >= 50) {
		vlog("setup fault: dropping a connection with ignored private data");
		call_free(c);
		conn_close(cn);
		return;
	}

	if (cur_mode == M_DISC && st.calls % (3 * cur_every) == 1) {
		st.injected[M_DISC]++;
		vlog("disconnecting on a Call");
		call_free(c);
		conn_close(cn);
		return;
	}
	if (cur_mode == M_EARLY && (cn->calls % cur_every) == 0) {
		respond_early(cn, c);
		call_free(c);
		return;
	}

	for (i = 0; i < c->nread; i++) {
		if (c->rd[i].s.len > MAX_CHUNK_BYTES - total) {
			st.bad_calls++;
			goto drop;
		}
		total += c->rd[i].s.len;
	}
	call_insert(c);
	if (!c->nread) {
		call_ready(c);
		return;
	}
	st.read_chunks++;
	c->rdlen = total;
	c->rdbuf = malloc(total ? total : 1);
	if (!c->rdbuf)
		goto fail_reads;
	c->rdmr = ibv_reg_mr(cn->pd, c->rdbuf, total ? total : 1,
			     IBV_ACCESS_LOCAL_WRITE);
	if (!c->rdmr)
		goto fail_reads;
	for (i = 0; i < c->nread; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)c->rdbuf + off,
			.length = c->rd[i].s.len, .lkey = c->rdmr->lkey,
		};
		struct ibv_send_wr wr, *bad;

		memset(&wr, 0, sizeof(wr));
		wr.wr_id = WR_ID(WR_READ, (uintptr_t)c);
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_RDMA_READ;
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.wr.rdma.remote_addr = c->rd[i].s.off;
		wr.wr.rdma.rkey = c->rd[i].s.handle;
		if (ibv_post_send(cn->id->qp, &wr, &bad)) {
			st.send_errors++;
			c->read_err = 1;
			break;
		}
		c->reads_left++;
		off += c->rd[i].s.len;
	}
	if (!c->reads_left)
		goto fail_reads;
	return;
fail_reads:
	call_unlink(c);
	call_free(c);
	return;
drop:
	call_free(c);
repost:
	if (idx >= 0 && post_recv(cn, idx))
		vlog("repost: %s", strerror(errno));
}

static void on_read_done(uint64_t val, int ok)
{
	struct call *c = (struct call *)(uintptr_t)val, *p;

	for (p = pending; p; p = p->next)
		if (p == c)
			break;
	if (!p)
		return;		/* cannot happen: the CQ dies with the conn */
	if (!ok)
		c->read_err = 1;
	if (--c->reads_left > 0)
		return;
	if (c->read_err) {
		call_unlink(c);
		call_free(c);
		return;
	}
	call_ready(c);
}

static void poll_cq(struct conn *cn)
{
	struct ibv_wc wc[32];
	struct ibv_cq *cq;
	void *ctx;
	int n, i;

	if (ibv_get_cq_event(cn->ch, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
	}
	while (cn->used && (n = ibv_poll_cq(cn->cq, 32, wc)) > 0) {
		for (i = 0; i < n && cn->used; i++) {
			int kind = WR_KIND(wc[i].wr_id);
			uint64_t val = WR_VAL(wc[i].wr_id);

			if (wc[i].status != IBV_WC_SUCCESS &&
			    wc[i].status != IBV_WC_WR_FLUSH_ERR)
				logit("completion error: %s (kind %d)",
				      ibv_wc_status_str(wc[i].status), kind);
			switch (kind) {
			case WR_RECV:
				if (wc[i].status != IBV_WC_SUCCESS) {
					if (wc[i].status != IBV_WC_WR_FLUSH_ERR)
						st.recv_errors++;
					break;
				}
				on_recv(cn, (int)val, wc[i].byte_len);
				break;
			case WR_SEND:
				if (wc[i].status != IBV_WC_SUCCESS &&
				    wc[i].status != IBV_WC_WR_FLUSH_ERR)
					st.send_errors++;
				if (val < NSEND) {
					if (cn->sx[val].mr)
						ibv_dereg_mr(cn->sx[val].mr);
					free(cn->sx[val].buf);
					cn->sx[val].mr = NULL;
					cn->sx[val].buf = NULL;
					cn->sfree[cn->nsfree++] = (int)val;
				}
				break;
			case WR_READ:
				on_read_done(val, wc[i].status == IBV_WC_SUCCESS);
				break;
			default:
				break;
			}
			if (wc[i].status != IBV_WC_SUCCESS &&
			    wc[i].status != IBV_WC_WR_FLUSH_ERR)
				conn_close(cn);
		}
	}
}

/* ------------------------------------------------------------- rdma_cm */

static void on_connect_request(struct rdma_cm_id *id,
			       const struct rdma_conn_param *req,
			       const uint8_t *cpriv, uint32_t cpriv_len)
{
	struct rdma_conn_param cp;
	struct ibv_device_attr da;
	uint8_t priv[8];
	struct conn *cn;
	int fault = -1;

	if (setup_left > 0) {
		fault = (int)(variant[M_SETUP]++ % 5);
		setup_left--;
		st.injected[M_SETUP]++;
	}
	if (fault == 0) {
		vlog("setup fault: rejecting a connection");
		st.rejected++;
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return;
	}
	cn = conn_setup(id);
	if (!cn) {
		st.rejected++;
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return;
	}
	if (cpriv_len >= 8 && get32(cpriv) == CM_MAGIC &&
	    cpriv[4] == 1)
		cn->max_send = ((uint32_t)cpriv[7] + 1) * 1024;
	if (cn->max_send > INLINE)
		cn->max_send = INLINE;
	put32(priv, CM_MAGIC);
	priv[4] = 1;
	if (fault == 3 || fault == 4) {
		/* Private data the client must ignore (bad magic, version
		 * 2): it then assumes 1024-byte inline limits both ways, and
		 * so do we. The connection serves a few Calls, then is
		 * dropped while setup faults remain. */
		if (fault == 3)
			put32(priv, CM_MAGIC ^ 0x01000000u);
		else
			priv[4] = 2;
		cn->max_send = 1024;
		cn->bad_private = 1;
	}
	priv[5] = 0;
	priv[6] = INLINE / 1024 - 1;
	priv[7] = INLINE / 1024 - 1;
	memset(&cp, 0, sizeof(cp));
	if (ibv_query_device(id->verbs, &da))
		memset(&da, 0, sizeof(da));
	cp.responder_resources = req->initiator_depth;
	if (cp.responder_resources > da.max_qp_rd_atom)
		cp.responder_resources = (uint8_t)da.max_qp_rd_atom;
	cp.initiator_depth = req->responder_resources;
	if (cp.initiator_depth > da.max_qp_init_rd_atom)
		cp.initiator_depth = (uint8_t)da.max_qp_init_rd_atom;
	cp.rnr_retry_count = 7;
	cp.private_data = priv;
	cp.private_data_len = sizeof(priv);
	if (rdma_accept(id, &cp)) {
		logit("rdma_accept: %s", strerror(errno));
		conn_destroy(cn);
		return;
	}
	st.conns++;
	vlog("conn %u accepted (client receives %u bytes)", cn->gen, cn->max_send);
	if (fault == 2) {
		vlog("setup fault: disconnecting before ESTABLISHED");
		conn_close(cn);
	} else if (fault == 1) {
		cn->closing = 2;	/* disconnect once established */
	}
}

static void on_cm_event(void)
{
	struct rdma_cm_event *ev, copy;
	struct conn *cn;

	if (rdma_get_cm_event(cm_ch, &ev))
		return;
	copy = *ev;
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		/* The private data lives in the event; rdma_destroy_id of a
		 * rejected id waits for the ack, so copy, ack, then act. */
		uint8_t cpriv[256];
		uint32_t n = ev->param.conn.private_data_len;

		if (n > sizeof(cpriv))
			n = sizeof(cpriv);
		if (n && ev->param.conn.private_data)
			memcpy(cpriv, ev->param.conn.private_data, n);
		else
			n = 0;
		rdma_ack_cm_event(ev);
		on_connect_request(copy.id, &copy.param.conn, cpriv, n);
		return;
	}
	rdma_ack_cm_event(ev);
	cn = conn_of_id(copy.id);
	vlog("cm event %s on conn %u", rdma_event_str(copy.event),
	     cn ? cn->gen : 0);
	if (!cn)
		return;
	switch (copy.event) {
	case RDMA_CM_EVENT_ESTABLISHED:
		cn->established = 1;
		if (cn->closing == 2) {
			vlog("setup fault: disconnecting at ESTABLISHED");
			cn->closing = 0;
			conn_close(cn);
		}
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		if (copy.event == RDMA_CM_EVENT_DISCONNECTED && !cn->closing)
			rdma_disconnect(cn->id);
		conn_destroy(cn);
		break;
	default:
		break;
	}
}

/* -------------------------------------------------------------- control */

static void command(char *line)
{
	char *arg = strchr(line, ' ');
	int m, i;

	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "mode") && arg) {
		char *ev = strchr(arg, ' '), *flt = NULL;

		if (ev) {
			*ev++ = 0;
			flt = strchr(ev, ' ');
			if (flt)
				*flt++ = 0;
		}
		for (m = 0; m < M_NMODES; m++)
			if (!strcmp(arg, mode_names[m]))
				break;
		if (m == M_NMODES || m == M_SETUP) {
			logit("unknown mode '%s'", arg);
			return;
		}
		cur_mode = (enum mode)m;
		cur_every = ev ? strtoul(ev, NULL, 0) : 1;
		if (!cur_every)
			cur_every = 1;
		cur_reads_only = flt && !strcmp(flt, "read");
		logit("mode %s every %lu%s", mode_names[m], cur_every,
		      cur_reads_only ? " (READ replies only)" : "");
	} else if (!strcmp(line, "setup") && arg) {
		setup_left = atoi(arg);
		logit("setup faults for the next %d connections", setup_left);
		for (i = 0; i < MAX_CONNS; i++)
			conn_close(&conns[i]);
	} else if (!strcmp(line, "dump")) {
		dump_stats(arg ? arg : "0");
	} else if (!strcmp(line, "quit")) {
		stop = 1;
	} else if (line[0]) {
		logit("unknown command '%s'", line);
	}
}

static void ctl_input(int fd)
{
	static char buf[4096];
	static size_t have;
	char *nl;
	ssize_t r;

	r = read(fd, buf + have, sizeof(buf) - 1 - have);
	if (r <= 0)
		return;
	have += (size_t)r;
	buf[have] = 0;
	while ((nl = memchr(buf, '\n', have))) {
		*nl = 0;
		command(buf);
		have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, have);
		buf[have] = 0;
	}
	if (have == sizeof(buf) - 1)
		have = 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

#ifdef XPRS_HOSTILE_SELFTEST
/*
 * Host self-test (scripts/hostile.sh --selftest, built with ASan and
 * UBSan): random and half-valid Calls through parse_call() and
 * call_ready(), random record-marked streams through tcp_input(), random
 * replies and Calls through every fault builder and ddp_parse(). No RDMA
 * device is needed: nothing here posts a work request.
 */
static void fill(uint8_t *b, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
	/* Small numbers, 1s and 0s make lists parse further. */
	for (i = 0; i + 4 <= n; i += 4)
		if (rnd() % 2)
			put32(b + i, rnd() % 4 ? rnd() % 3 : rnd() % 5000);
}

/* A Call with well-formed lists, then a few words broken and a random cut. */
static uint32_t gen_call(uint8_t *b, uint32_t cap)
{
	struct wbuf w = { b, 0, cap, 0 };
	uint32_t i, j, n, pos = rnd() % 2 ? 0 : rnd() % 512;

	w32(&w, rnd());
	w32(&w, 1);
	w32(&w, 32);
	w32(&w, rnd() % 2);
	for (i = rnd() % 4; i > 0; i--) {
		w32(&w, 1);
		w32(&w, rnd() % 3 ? pos : rnd() % 600);
		wseg(&w, rnd(), rnd() % 3 ? rnd() % 2048 : rnd(), rnd());
	}
	w32(&w, 0);
	for (i = rnd() % 3; i > 0; i--) {
		w32(&w, 1);
		n = rnd() % 4;
		w32(&w, n);
		for (j = 0; j < n; j++)
			wseg(&w, rnd(), rnd() % 2048, rnd());
	}
	w32(&w, 0);
	if (rnd() % 2) {
		w32(&w, 1);
		n = rnd() % 4;
		w32(&w, n);
		for (j = 0; j < n; j++)
			wseg(&w, rnd(), rnd() % 4096, rnd());
	} else {
		w32(&w, 0);
	}
	for (i = rnd() % 700; i > 0 && !w.over; i--)
		w32(&w, rnd());
	if (w.over)
		w.len = cap & ~3u;
	for (i = rnd() % 3; i > 0 && w.len >= 4; i--)
		put32(b + 4 * (rnd() % (w.len / 4)), rnd() % 2 ? rnd() : rnd() % 3);
	if (rnd() % 4 == 0)
		w.len = rnd() % (w.len + 1);
	return w.len;
}

static int selftest(unsigned long iters)
{
	static uint8_t b[SLOT_SIZE], out[SLOT_SIZE];
	unsigned long it, parsed = 0, chunked = 0;
	int devnull, pfd[2] = { -1, -1 };

	quiet = 1;
	devnull = open("/dev/null", O_WRONLY);
	if (devnull < 0)
		return 1;
	for (it = 0; it < iters; it++) {
		struct call *c = calloc(1, sizeof(*c));
		uint32_t len, n, doff, dlen, tail, i;
		int h;

		if (!c)
			return 1;
		if (rnd() % 8) {
			len = gen_call(b, INLINE);
		} else {
			len = rnd() % (INLINE + 1);
			fill(b, len);
		}
		memcpy(&c->xid, b, len >= 4 ? 4 : 0);
		h = len >= 16 ? parse_call(b, len, c) : -1;
		if (h >= 0) {
			parsed++;
			chunked += c->nread > 0;
			c->proc = (int)(get32(b + 12) % 2);
			c->inl_len = len - (uint32_t)h;
			c->inl = malloc(c->inl_len + 1);
			memcpy(c->inl, b + h, c->inl_len);
			c->rdlen = 0;
			for (i = 0; i < (uint32_t)c->nread; i++) {
				c->rd[i].s.len %= 3000;
				c->rdlen += c->rd[i].s.len;
			}
			c->rdbuf = calloc(1, c->rdlen + 1);
			int saved = tcp_fd;

			tcp_fd = devnull;
			call_ready(c);
			tcp_fd = saved;
		}
		/* the fault builders, with this Call and a random reply */
		n = rnd() % (SLOT_SIZE + 1);
		fill(b, n);
		if (rnd() % 2 && n >= 28) {
			put32(b + 4, 1);
			put32(b + 8, 0);
			put32(b + 16, rnd() % 8);
		}
		c->has_rep = (int)(rnd() % 2);
		if (c->has_rep && !c->nrep)
			c->nrep = (int)(rnd() % MAX_SEGS);
		for (i = 0; i < 8; i++) {
			build_hdr_fault(out, sizeof(out), c, b, n, rnd());
			build_trunc(out, sizeof(out), c, b, n, rnd());
			build_unsol(out, sizeof(out), rnd());
			build_rdmaerr(out, sizeof(out), c, rnd());
			build_inline(out, sizeof(out), c->xid, rnd(), b, n);
			build_inline(out, rnd() % 64, c->xid, rnd(), b, n);
		}
		if (!ddp_parse(b, n, &doff, &dlen, &tail) &&
		    (doff > n || dlen > n - doff || tail > n)) {
			fprintf(stderr, "ddp_parse: out of bounds\n");
			return 1;
		}
		call_free(c);
		/* nfsd's side: a random stream of records */
		if (tcp_fd < 0) {
			if (pipe(pfd))
				return 1;
			fcntl(pfd[0], F_SETFL, O_NONBLOCK);
			tcp_fd = pfd[0];
			tcp_in_len = frag_len = 0;
		}
		n = rnd() % 2048;
		fill(b, n);
		for (i = 0; i + 4 <= n; i += 4 + (get32(b + i) & 0x3ff))
			if (rnd() % 4)
				put32(b + i, (rnd() % 2 ? 0x80000000u : 0) | (rnd() % 600));
		if (write(pfd[1], b, n) != (ssize_t)n)
			return 1;
		tcp_input();
		if (tcp_fd < 0) {	/* dropped on a bad record: start over */
			st.nfsd_reconnects++;
			close(pfd[1]);
		}
	}
	printf("selftest: %lu iterations: %lu Calls parsed, %lu with read chunks "
	       "assembled; %lu nfsd records, %lu streams dropped\n", iters,
	       parsed, chunked, st.nfsd_orphans, st.nfsd_reconnects);
	return 0;
}
#endif

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct pollfd pfd[3 + MAX_CONNS];
	struct conn *pc[3 + MAX_CONNS];
	int opt, ctl, i, n, m;

#ifdef XPRS_HOSTILE_SELFTEST
	return selftest(argc > 1 ? strtoul(argv[1], NULL, 0) : 100000);
#endif
	while ((opt = getopt(argc, argv, "a:p:n:N:c:s:S:v")) != -1) {
		switch (opt) {
		case 'a': listen_addr = optarg; break;
		case 'p': listen_port = atoi(optarg); break;
		case 'n': nfs_addr = optarg; break;
		case 'N': nfs_port = atoi(optarg); break;
		case 'c': ctl_path = optarg; break;
		case 's': stats_path = optarg; break;
		case 'S': rng_state = strtoull(optarg, NULL, 0) | 1; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: %s [-a addr] [-p port] [-n nfsaddr] "
				"[-N nfsport] [-c ctl] [-s stats] [-S seed] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stderr, NULL, _IOLBF, 0);

	if (mkfifo(ctl_path, 0600) && errno != EEXIST) {
		logit("mkfifo %s: %s", ctl_path, strerror(errno));
		return 1;
	}
	/* O_RDWR: the FIFO never reports EOF when a writer goes away. */
	ctl = open(ctl_path, O_RDWR | O_NONBLOCK);
	if (ctl < 0) {
		logit("open %s: %s", ctl_path, strerror(errno));
		return 1;
	}
	cm_ch = rdma_create_event_channel();
	if (!cm_ch || rdma_create_id(cm_ch, &listen_id, NULL, RDMA_PS_TCP)) {
		logit("rdma_cm: %s", strerror(errno));
		return 1;
	}
	sa.sin_port = htons((uint16_t)listen_port);
	if (inet_pton(AF_INET, listen_addr, &sa.sin_addr) != 1) {
		logit("bad address %s", listen_addr);
		return 1;
	}
	if (rdma_bind_addr(listen_id, (struct sockaddr *)&sa) ||
	    rdma_listen(listen_id, 8)) {
		logit("listen on %s:%d: %s", listen_addr, listen_port,
		      strerror(errno));
		return 1;
	}
	fcntl(cm_ch->fd, F_SETFL, fcntl(cm_ch->fd, F_GETFL) | O_NONBLOCK);
	if (tcp_connect())
		logit("nfsd %s:%d not reachable yet: %s", nfs_addr, nfs_port,
		      strerror(errno));
	dump_stats("0");
	logit("listening on %s:%d, forwarding to %s:%d", listen_addr,
	      listen_port, nfs_addr, nfs_port);

	while (!stop) {
		n = 0;
		pfd[n].fd = cm_ch->fd; pfd[n].events = POLLIN; pc[n++] = NULL;
		pfd[n].fd = ctl; pfd[n].events = POLLIN; pc[n++] = NULL;
		pfd[n].fd = tcp_fd; pfd[n].events = POLLIN; pc[n++] = NULL;
		for (i = 0; i < MAX_CONNS; i++)
			if (conns[i].used) {
				pfd[n].fd = conns[i].ch->fd;
				pfd[n].events = POLLIN;
				pc[n++] = &conns[i];
			}
		if (poll(pfd, (nfds_t)n, 200) < 0) {
			if (errno == EINTR)
				continue;
			logit("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			on_cm_event();
		if (pfd[1].revents)
			ctl_input(ctl);
		if (tcp_fd >= 0 && pfd[2].fd == tcp_fd && pfd[2].revents)
			tcp_input();
		for (i = 3; i < n; i++)
			if (pfd[i].revents && pc[i]->used && pc[i]->ch &&
			    pc[i]->ch->fd == pfd[i].fd)
				poll_cq(pc[i]);
	}
	for (m = 0; m < M_NMODES; m++)
		logit("injected %-10s %lu", mode_names[m], st.injected[m]);
	dump_stats("final");
	for (i = 0; i < MAX_CONNS; i++)
		conn_destroy(&conns[i]);
	rdma_destroy_id(listen_id);
	rdma_destroy_event_channel(cm_ch);
	return 0;
}
