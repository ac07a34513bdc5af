/* k8s-fake-api -d DIR [-p PORT] [-n NODE] [-t TOKEN]: a tiny Kubernetes API server for the VM scenarios
 * (plain HTTP/1.1 on 127.0.0.1:PORT, default 6443), serving what the scenario writes into DIR:
 *
 *   GET /api/v1/R?...               list: DIR/R.list.json, or DIR/R.list.TOKEN.json for continue=TOKEN
 *                                   (a page's metadata.continue names the next file: limit/continue paging)
 *   GET /api/v1/R/NAME              get:  DIR/R.NAME.json
 *   GET /api/v1/R?watch=1&resourceVersion=V[&timeoutSeconds=S]
 *                                   200, chunked, one JSON event per line: the lines of DIR/R.watch, each
 *                                   "RV JSON-EVENT", whose RV > V, as they are appended (tail-follow), until
 *                                   the client goes away or S seconds have passed (then the stream ends).
 *
 * As the API server does: pods lists and watches with -n NODE must carry fieldSelector=spec.nodeName=NODE
 * (else 400; no other field selector is supported); with -t TOKEN every request must carry
 * "Authorization: Bearer TOKEN" (else 401); errors are metav1.Status bodies; connections are kept alive.
 * Every request, and every watch event sent, is logged to DIR/requests.log with the guest uptime
 * ("T=<s> <pid> GET <path> k=v ... -> <status>", "T=<s> <pid> sent R rv=N"). DIR/ready appears once it
 * listens. One process per connection (it dies with the server). Built statically by mkinitramfs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static const char *node;
static const char *token;

#define MAX_PARAMS 32
struct param { char key[64]; char value[512]; };
struct request {
    char method[16];
    char path[1024];
    struct param params[MAX_PARAMS];
    int nparams;
    char authorization[512];
    int close_after;
};

static double uptime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void logf_(const char *fmt, ...) {
    char line[4096];
    int n = snprintf(line, sizeof line, "T=%.3f %d ", uptime(), (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line - 1) n = sizeof line - 2;
    line[n++] = '\n';
    char path[4096];
    snprintf(path, sizeof path, "%s/requests.log", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }  /* one write: lines from all connections stay whole */
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w; len -= w;
    }
    return 0;
}

static const char *param(const struct request *r, const char *key) {
    for (int i = 0; i < r->nparams; i++) if (strcmp(r->params[i].key, key) == 0) return r->params[i].value;
    return NULL;
}

/* Percent-decoding as Go's url.ParseQuery does it ('+' is a space). */
static void decode(char *out, size_t cap, const char *in, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (in[i] == '%' && i + 2 < len && isxdigit((unsigned char)in[i + 1]) && isxdigit((unsigned char)in[i + 2])) {
            char hex[3] = { in[i + 1], in[i + 2], 0 };
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else out[o++] = in[i] == '+' ? ' ' : in[i];
    }
    out[o] = 0;
}

static int send_full(int fd, const struct request *r, int code, const char *reason, const char *body, size_t len) {
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                     code, reason, len, r->close_after ? "Connection: close\r\n" : "");
    if (write_all(fd, head, n) < 0 || write_all(fd, body, len) < 0) return -1;
    return 0;
}

static int send_status(int fd, const struct request *r, int code, const char *reason, const char *message) {
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                     "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}", message, reason, code);
    logf_("%s %s -> %d %s", r->method, r->path, code, message);
    return send_full(fd, r, code, code == 400 ? "Bad Request" : code == 401 ? "Unauthorized"
                     : code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed" : "Error", body, n);
}

static char *read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) { cap *= 2; buf = realloc(buf, cap); }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += r;
    }
    close(fd);
    *len = n;
    return buf;
}

static int send_chunk(int fd, const char *data, size_t len) {
    char head[32];
    int n = snprintf(head, sizeof head, "%zx\r\n", len);
    if (write_all(fd, head, n) < 0 || write_all(fd, data, len) < 0 || write_all(fd, "\r\n", 2) < 0) return -1;
    return 0;
}

/* Streams DIR/RES.watch from version `from`. Returns 0 when the stream ended normally (timeout: the
 * connection may carry another request), -1 when the client went away. */
static int watch(int fd, const char *res, long from, long timeout_seconds) {
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if (write_all(fd, head, strlen(head)) < 0) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.watch", dir, res);
    double deadline = timeout_seconds > 0 ? uptime() + timeout_seconds : 0;
    off_t offset = 0;
    static char pending[1 << 20];
    size_t npending = 0;
    for (;;) {
        int efd = open(path, O_RDONLY | O_CLOEXEC);
        if (efd >= 0) {
            for (;;) {
                if (npending == sizeof pending) npending = 0;  /* a line longer than 1 MiB: dropped */
                ssize_t r = pread(efd, pending + npending, sizeof pending - npending, offset);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                offset += r;
                npending += r;
                size_t start = 0;
                for (size_t i = 0; i < npending; i++) {
                    if (pending[i] != '\n') continue;
                    char *line = pending + start;
                    size_t len = i - start;
                    start = i + 1;
                    char *end;
                    long rv = strtol(line, &end, 10);
                    while (end < line + len && (*end == ' ' || *end == '\t')) end++;
                    if (end == line || end >= line + len || rv <= from) continue;
                    size_t jlen = line + len - end;
                    char *ev = malloc(jlen + 1);
                    memcpy(ev, end, jlen);
                    ev[jlen] = '\n';
                    int failed = send_chunk(fd, ev, jlen + 1);
                    free(ev);
                    if (failed) { close(efd); return -1; }
                    logf_("sent %s rv=%ld", res, rv);
                }
                memmove(pending, pending + start, npending - start);
                npending -= start;
            }
            close(efd);
        }
        double wait = 0.05;
        if (deadline > 0) {
            double left = deadline - uptime();
            if (left <= 0) {
                logf_("watch %s ended (timeoutSeconds=%ld)", res, timeout_seconds);
                return write_all(fd, "0\r\n\r\n", 5) < 0 ? -1 : 0;
            }
            if (left < wait) wait = left;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)(wait * 1000) + 1);
        if (pr > 0) {
            char junk[4096];
            ssize_t r = recv(fd, junk, sizeof junk, 0);
            if (r <= 0) { logf_("watch %s: client closed", res); return -1; }
        }
    }
}

static int valid_name(const char *s) {
    if (!*s || strlen(s) > 128) return 0;
    for (; *s; s++) if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
    return 1;
}

static int handle(int fd, struct request *r) {
    char params[2048] = "";
    size_t pl = 0;
    for (int i = 0; i < r->nparams && pl < sizeof params - 1; i++)
        pl += snprintf(params + pl, sizeof params - pl, " %s=%s", r->params[i].key, r->params[i].value);
    logf_("%s %s%s", r->method, r->path, params);
    if (token) {
        char want[600];
        snprintf(want, sizeof want, "Bearer %s", token);
        if (strcmp(r->authorization, want) != 0) return send_status(fd, r, 401, "Unauthorized", "Unauthorized");
    }
    if (strcmp(r->method, "GET") != 0) return send_status(fd, r, 405, "MethodNotAllowed", "only GET is served");
    const char *prefix = "/api/v1/";
    if (strncmp(r->path, prefix, strlen(prefix)) != 0)
        return send_status(fd, r, 404, "NotFound", "the server could not find the requested resource");
    char res[128] = "", name[256] = "";
    const char *rest = r->path + strlen(prefix);
    const char *slash = strchr(rest, '/');
    if (slash) {
        snprintf(res, sizeof res, "%.*s", (int)(slash - rest), rest);
        snprintf(name, sizeof name, "%s", slash + 1);
    } else snprintf(res, sizeof res, "%s", rest);
    if (!valid_name(res) || (slash && !valid_name(name)))
        return send_status(fd, r, 404, "NotFound", "the server could not find the requested resource");
    const char *fs = param(r, "fieldSelector");
    if (strcmp(res, "pods") == 0 && node && !slash) {
        char want[512];
        snprintf(want, sizeof want, "spec.nodeName=%s", node);
        if (!fs || strcmp(fs, want) != 0)
            return send_status(fd, r, 400, "BadRequest", "this test server serves the pods of its node only: "
                               "fieldSelector=spec.nodeName=<node> is required");
    } else if (fs && *fs) {
        return send_status(fd, r, 400, "BadRequest", "field label not supported");
    }
    char path[4096];
    if (slash) {
        snprintf(path, sizeof path, "%s/%s.%s.json", dir, res, name);
    } else {
        const char *w = param(r, "watch");
        if (w && (strcmp(w, "1") == 0 || strcmp(w, "true") == 0)) {
            const char *rv = param(r, "resourceVersion"), *ts = param(r, "timeoutSeconds");
            r->close_after = 0;
            return watch(fd, res, rv ? atol(rv) : 0, ts ? atol(ts) : 0);
        }
        const char *cont = param(r, "continue");
        if (cont && *cont) {
            if (!valid_name(cont)) return send_status(fd, r, 400, "BadRequest", "invalid continue token");
            snprintf(path, sizeof path, "%s/%s.list.%s.json", dir, res, cont);
        } else snprintf(path, sizeof path, "%s/%s.list.json", dir, res);
    }
    size_t len;
    char *body = read_file(path, &len);
    if (!body) return send_status(fd, r, 404, "NotFound", "the server could not find the requested resource");
    logf_("%s %s -> 200 %s (%zu bytes)", r->method, r->path, strrchr(path, '/') + 1, len);
    int rc = send_full(fd, r, 200, "OK", body, len);
    free(body);
    return rc;
}

/* Parses one request head (buf holds it, up to and including the blank line). */
static int parse(char *buf, struct request *r) {
    memset(r, 0, sizeof *r);
    char *save, *line = strtok_r(buf, "\r\n", &save);
    if (!line) return -1;
    char target[2048], version[16];
    if (sscanf(line, "%15s %2047s %15s", r->method, target, version) != 3) return -1;
    if (strcmp(version, "HTTP/1.1") != 0) r->close_after = 1;
    char *q = strchr(target, '?');
    if (q) *q++ = 0;
    decode(r->path, sizeof r->path, target, strlen(target));
    while (q && *q && r->nparams < MAX_PARAMS) {
        char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        char *eq = memchr(q, '=', len);
        struct param *p = &r->params[r->nparams++];
        if (eq) {
            decode(p->key, sizeof p->key, q, eq - q);
            decode(p->value, sizeof p->value, eq + 1, q + len - eq - 1);
        } else decode(p->key, sizeof p->key, q, len);
        q = amp ? amp + 1 : NULL;
    }
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (strcasecmp(line, "Authorization") == 0) snprintf(r->authorization, sizeof r->authorization, "%s", v);
        if (strcasecmp(line, "Connection") == 0 && strcasecmp(v, "close") == 0) r->close_after = 1;
        if (strcasecmp(line, "Content-Length") == 0 && atol(v) != 0) r->close_after = 1;  /* GETs have no body */
    }
    return 0;
}

static void serve(int fd) {
    static char buf[32768];
    size_t n = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, n, "\r\n\r\n", 4))) {
            if (n == sizeof buf - 1) return;  /* head too large */
            ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return;
            n += r;
        }
        size_t head_len = end + 4 - buf;
        char head[sizeof buf];
        memcpy(head, buf, head_len);
        head[head_len] = 0;
        memmove(buf, buf + head_len, n - head_len);
        n -= head_len;
        struct request r;
        if (parse(head, &r) < 0) return;
        if (handle(fd, &r) < 0 || r.close_after) return;
    }
}

int main(int argc, char **argv) {
    int port = 6443, opt;
    while ((opt = getopt(argc, argv, "d:p:n:t:")) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': node = optarg; break;
        case 't': token = optarg; break;
        default: goto usage;
        }
    }
    if (!dir) {
    usage:
        fprintf(stderr, "usage: k8s-fake-api -d DIR [-p PORT] [-n NODE] [-t TOKEN]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);  /* connection processes are reaped automatically */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) { perror("k8s-fake-api: listen"); return 1; }
    char ready[4096];
    snprintf(ready, sizeof ready, "%s/ready", dir);
    close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    logf_("listening on 127.0.0.1:%d", port);
    pid_t server = getpid();
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) { if (errno == EINTR) continue; perror("k8s-fake-api: accept"); return 1; }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != server) _exit(0);
            close(s);
            serve(c);
            _exit(0);
        }
        close(c);
    }
}
