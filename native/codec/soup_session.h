/* codec/soup_session.h - private: the SoupBinTCP server's sessions and the
 * state machine of each client connection.
 *
 * Pure functions of (state, now, event): nothing here reads a clock, touches
 * a socket or allocates.  Each event fills a struct wm_soup_actions saying
 * what the connection's owner must do (send a packet, hand a message to the
 * engine, close), so the whole protocol is testable with a fake clock.
 *
 * Connection states: awaiting login -> active -> closed, and awaiting login
 * -> closed.  A closed connection has one reason (enum wm_soup_counter
 * soup_close_*), counted once.
 *
 * Sessions: each has a name, one username and password (from the config,
 * never logged), and one stream of Sequenced Data messages numbered from 1.
 * The owner keeps the messages (a history; replay reads it);
 * wm_soup_session_append numbers the next one, and wm_soup_conn_pending says
 * which numbers a connection is to send next.  A login with requested number
 * N is answered Login Accepted with the number of the first message the
 * connection will get, then every message of the session from there on is
 * sent through wm_soup_conn_pending: first the stored ones (the replay),
 * then live ones as they are appended, with no gap and no duplicate.
 *
 * Requested sequence number rules (SoupBinTCP 3.0 leaves the last two to the
 * server):
 *   0                 from now: Login Accepted with the session's next number
 *   first..next       replay from N
 *   beyond the next   Login Accepted with the session's next number (the
 *                     client learns where the stream is; counted
 *                     soup_logins_seq_beyond_end)
 *   below first       Login Rejected 'S' (soup_login_reject_seq_not_retained):
 *                     those messages are no longer kept
 *
 * Login: the username and password select the session (Alpha fields compared
 * without padding); a requested session that is not blank must be that
 * session's name.  Bad credentials: Login Rejected 'A'.  Another session's
 * name, a session with a connection logged in already, or a login after the
 * End of Session: Login Rejected 'S'.  A rejected login closes the
 * connection (soup_close_login_rejected).
 *
 * Before login, a Client Heartbeat and a Debug packet are accepted, a Logout
 * Request closes (soup_close_logout) and Unsequenced Data closes
 * (soup_close_data_before_login).  A second Login Request on a logged-in
 * connection closes it (soup_close_login_while_logged_in).
 *
 * Timers: a logged-in connection with no output for heartbeat_ns (1 s) gets
 * a Server Heartbeat; a client silent for longer than client_timeout_ns
 * (15 s) is closed (soup_close_client_timeout); a connection not logged in
 * within login_timeout_ns (the client timeout) is closed
 * (soup_close_login_timeout).  wm_soup_conn_deadline says when the next
 * timer is due, so the owner can sleep until then.
 *
 * Output bound: the owner reports every packet it queues
 * (wm_soup_conn_queued) and every byte the kernel took (wm_soup_conn_sent);
 * more than output_bound bytes unsent closes the connection
 * (soup_close_output_bound).  The engine never waits for a client: the
 * client logs in again with its next expected number and gets the rest.
 */
#ifndef WM_CODEC_SOUP_SESSION_H
#define WM_CODEC_SOUP_SESSION_H

#include <stdint.h>

#include "wirematch/soup.h"

#define WM_SOUP_DEFAULT_HEARTBEAT_NS      1000000000ull
#define WM_SOUP_DEFAULT_CLIENT_TIMEOUT_NS 15000000000ull
#define WM_SOUP_DEFAULT_OUTPUT_BOUND      (1u << 20)

enum {
    WM_SOUP_MAX_SESSIONS = 256
};

enum wm_soup_conn_state {
    WM_SOUP_AWAITING_LOGIN = 1,
    WM_SOUP_ACTIVE = 2,
    WM_SOUP_CLOSED = 3
};

/* Zero fields take the defaults above, except sequenced_hold_ns (0: none). */
struct wm_soup_config {
    uint64_t heartbeat_ns;              /* output silence before a Server Heartbeat */
    uint64_t client_timeout_ns;         /* input silence that closes a connection */
    uint64_t login_timeout_ns;          /* connection to login (default: client timeout) */
    /* Sequenced Data starts this long after Login Accepted.  The ouch_connect
     * client (links) drops the bytes it reads together with the Login
     * Accepted: measured on loopback, a message sent right after it was lost
     * in 2 of 3 logins, none with a 1 ms gap; 20 ms is ample. */
    uint64_t sequenced_hold_ns;
    uint32_t output_bound;              /* unsent bytes per connection */
    uint32_t reserved;
};

struct wm_soup_session {
    char     name[WM_SOUP_SESSION_LEN];     /* left-justified, space padded */
    char     username[WM_SOUP_USERNAME_LEN];
    char     password[WM_SOUP_PASSWORD_LEN];
    uint16_t reserved;
    uint32_t conn;                      /* logged-in connection's id + 1; 0: none */
    uint64_t next_seq;                  /* number of the next Sequenced Data message */
    uint64_t first_seq;                 /* oldest number the owner still keeps */
};

struct wm_soup_sessions {
    struct wm_soup_config cfg;          /* defaults filled in */
    uint32_t n;
    uint32_t ended;                     /* End of Session: no more logins */
    struct wm_soup_stats st;
    struct wm_soup_session s[WM_SOUP_MAX_SESSIONS];
};

struct wm_soup_conn {
    uint32_t id;                        /* the owner's connection id */
    uint8_t  state;                     /* enum wm_soup_conn_state */
    uint8_t  close_reason;              /* enum wm_soup_counter, when closed */
    uint16_t reserved;
    uint32_t session;                   /* index in sessions->s, when active */
    uint32_t unsent;                    /* bytes queued and not yet sent */
    uint64_t opened_ns;
    uint64_t last_in_ns;                /* last packet from the client */
    uint64_t last_out_ns;               /* last packet queued to the client */
    uint64_t next_seq;                  /* next number this connection is to send */
    uint64_t replay_end;                /* the session's next number at login */
    uint64_t accepted_ns;               /* Login Accepted */
};

/* What the owner must do, in this order. */
enum wm_soup_todo {
    WM_SOUP_DO_SEND_LOGIN_ACCEPTED = 1u << 0,  /* s[session].name, seq */
    WM_SOUP_DO_SEND_LOGIN_REJECTED = 1u << 1,  /* reject_code */
    WM_SOUP_DO_DELIVER = 1u << 2,              /* data[0..len): Unsequenced message of session */
    WM_SOUP_DO_SEND_HEARTBEAT = 1u << 3,
    WM_SOUP_DO_SEND_END_OF_SESSION = 1u << 4,
    WM_SOUP_DO_CLOSE = 1u << 5                 /* after what is queued; close_reason */
};

struct wm_soup_actions {
    uint32_t todo;                      /* enum wm_soup_todo bits */
    uint8_t  reject_code;               /* 'A' or 'S' */
    uint8_t  close_reason;
    uint16_t len;
    uint32_t session;
    uint32_t reserved;
    uint64_t seq;                       /* Login Accepted's sequence number */
    const uint8_t *data;                /* a view of the packet */
};

/* cfg may be NULL (all defaults).  0 or -EINVAL. */
int wm_soup_sessions_init(struct wm_soup_sessions *ss, const struct wm_soup_config *cfg);
/* A session: name up to 10, username up to 6, password up to 10 printable
 * characters (NUL-terminated), none blank.  Its stream starts at number 1.
 * Returns the session's index, or -EINVAL, -EEXIST (name or username
 * taken), -ENOSPC. */
int wm_soup_sessions_add(struct wm_soup_sessions *ss, const char *name, const char *username,
                         const char *password);
/* The session whose name matches (padding ignored), or -ENOENT. */
int wm_soup_sessions_find(const struct wm_soup_sessions *ss, const char *name);
/* Number the session's next Sequenced Data message (the owner stores it
 * under that number).  Returns the number. */
uint64_t wm_soup_session_append(struct wm_soup_sessions *ss, uint32_t session);
/* The owner keeps messages from `first` on (first <= next_seq). */
void wm_soup_session_retain_from(struct wm_soup_sessions *ss, uint32_t session, uint64_t first);
/* End of Session: no more logins (each active connection then gets
 * wm_soup_conn_end_of_session). */
void wm_soup_sessions_end(struct wm_soup_sessions *ss);

/* A new TCP connection, awaiting login. */
void wm_soup_conn_open(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint32_t id,
                       uint64_t now);
/* A whole packet from the client (the parser's output). */
void wm_soup_conn_packet(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                         const struct wm_soup_packet *pkt, struct wm_soup_actions *act);
/* Close for a reason (a parser reason, soup_close_peer_closed, ...).  A
 * closed connection stays closed with its first reason. */
void wm_soup_conn_close(struct wm_soup_sessions *ss, struct wm_soup_conn *c, int reason,
                        struct wm_soup_actions *act);
/* Timers at now. */
void wm_soup_conn_tick(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                       struct wm_soup_actions *act);
/* When wm_soup_conn_tick next has something to do, or the sequenced hold
 * ends with messages waiting (UINT64_MAX: never). */
uint64_t wm_soup_conn_deadline(const struct wm_soup_sessions *ss, const struct wm_soup_conn *c);
/* The owner queued `bytes` of output at now.  0, or soup_close_output_bound
 * (the connection is closed: act says so). */
int wm_soup_conn_queued(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                        uint32_t bytes, struct wm_soup_actions *act);
/* The kernel took `bytes` of the queued output. */
void wm_soup_conn_sent(struct wm_soup_conn *c, uint32_t bytes);
/* Sequenced Data the connection is to send next at now: numbers
 * [*from, *from + n) with n <= max returned (0: none, not active, or within
 * the sequenced hold); they count as sent. */
uint32_t wm_soup_conn_pending(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                              uint64_t *from, uint32_t max);
/* End of Session for this connection: send it and close. */
void wm_soup_conn_end_of_session(struct wm_soup_sessions *ss, struct wm_soup_conn *c,
                                 struct wm_soup_actions *act);

#endif
