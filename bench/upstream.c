/*
 * A fast OpenAI-compatible test upstream for benchmarks: one thread, epoll, HTTP/1.1
 * keep-alive, Content-Length request bodies. It must cost the harness core as little as possible
 * so that the proxy under test is what is measured.
 *
 *   POST …/chat/completions without "stream":true  -> 200, ~1 KB chat.completion JSON
 *   POST …/chat/completions with "stream":true     -> 200, text/event-stream, chunked:
 *                                                     N delta events, a finish event, [DONE]
 *   POST …/messages, …/responses                   -> the same answer in Anthropic's Messages
 *                                                     and OpenAI's Responses formats (streamed:
 *                                                     their named events, N text deltas)
 *   anything else                                  -> 404
 *
 * usage: upstream [-p port] [-n events] [-d delay_us] [-a prose|pii]
 *   -d 0: events written back to back; -d N: N µs between events (first one at once).
 *   -a: the chat stream is an answer of words instead of "tokenNN " deltas: a role event, then
 *       one word per event (a 20-word sentence of plain prose, or one that holds an e-mail
 *       address and a card number), the finish event and [DONE]. -n is ignored there.
 * Binds 127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxConns = 65536, kBuf = 1 << 20 };

struct conn {
  int fd;
  char *in;
  size_t in_len;
  int streaming;     /* events still to send (paced mode) */
  int api;           /* of the stream being sent: kChat, kMessages, kResponses */
  int next_event;
  long long next_at; /* monotonic µs */
};

static int n_events = 20;
static long delay_us = 0;
static const char *answer = NULL; /* -a */
enum { kChat, kMessages, kResponses, kApis };
static char json_resp[kApis][2048];
static size_t json_len[kApis];
static char stream_head[256];
static size_t stream_head_len;
static char events[kApis][72][512];
static size_t event_len[kApis][72];
static int total_events[kApis];
static struct conn *conns[kMaxConns];
static int max_fd;

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One event of `api`'s stream, as one HTTP chunk; `name`: its `event:` field (NULL: none). */
static void add_named_event(int api, const char *name, const char *data) {
  char payload[448];
  int n = name ? snprintf(payload, sizeof payload, "event: %s\ndata: %s\n\n", name, data)
               : snprintf(payload, sizeof payload, "data: %s\n\n", data);
  int k = total_events[api]++;
  event_len[api][k] = (size_t)snprintf(events[api][k], sizeof events[0][0], "%x\r\n%s\r\n", n, payload);
}

static void add_event(const char *data) { add_named_event(kChat, NULL, data); }

static void set_json(int api, const char *body) {
  json_len[api] = (size_t)snprintf(json_resp[api], sizeof json_resp[0],
                                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\n\r\n%s",
                                   strlen(body), body);
}

static void end_stream(int api) {
  memcpy(events[api][total_events[api]], "0\r\n\r\n", 5);
  event_len[api][total_events[api]++] = 5;
}

/* The same answer as Anthropic Messages and OpenAI Responses send it. */
static void prepare_apis(const char *content) {
  char body[1800], ev[400];
  snprintf(body, sizeof body,
           "{\"id\":\"msg_bench0000000000000001\",\"type\":\"message\",\"role\":\"assistant\","
           "\"model\":\"bench-1\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],"
           "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":1150,"
           "\"output_tokens\":160}}",
           content);
  set_json(kMessages, body);
  snprintf(body, sizeof body,
           "{\"id\":\"resp_bench0000000000000001\",\"object\":\"response\",\"created_at\":"
           "1790000000,\"status\":\"completed\",\"model\":\"bench-1\",\"output\":[{\"type\":"
           "\"message\",\"id\":\"msg_bench1\",\"status\":\"completed\",\"role\":\"assistant\","
           "\"content\":[{\"type\":\"output_text\",\"text\":\"%s\",\"annotations\":[]}]}],"
           "\"usage\":{\"input_tokens\":1150,\"output_tokens\":160,\"total_tokens\":1310}}",
           content);
  set_json(kResponses, body);

  add_named_event(kMessages, "message_start",
                  "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench0000000000000001\","
                  "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench-1\",\"content\":[],"
                  "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1150,"
                  "\"output_tokens\":1}}}");
  add_named_event(kMessages, "content_block_start",
                  "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                  "\"text\",\"text\":\"\"}}");
  add_named_event(kResponses, "response.output_item.added",
                  "{\"type\":\"response.output_item.added\",\"sequence_number\":0,\"output_index\":0,"
                  "\"item\":{\"type\":\"message\",\"id\":\"msg_bench1\",\"status\":\"in_progress\","
                  "\"role\":\"assistant\",\"content\":[]}}");
  for (int i = 0; i < n_events && i < 60; i++) {
    snprintf(ev, sizeof ev,
             "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
             "\"text\":\"token%02d \"}}",
             i);
    add_named_event(kMessages, "content_block_delta", ev);
    snprintf(ev, sizeof ev,
             "{\"type\":\"response.output_text.delta\",\"sequence_number\":%d,\"item_id\":"
             "\"msg_bench1\",\"output_index\":0,\"content_index\":0,\"delta\":\"token%02d \","
             "\"logprobs\":[]}",
             i + 1, i);
    add_named_event(kResponses, "response.output_text.delta", ev);
  }
  add_named_event(kMessages, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
  add_named_event(kMessages, "message_delta",
                  "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                  "\"stop_sequence\":null},\"usage\":{\"output_tokens\":160}}");
  add_named_event(kMessages, "message_stop", "{\"type\":\"message_stop\"}");
  add_named_event(kResponses, "response.completed",
                  "{\"type\":\"response.completed\",\"sequence_number\":99,\"response\":{\"id\":"
                  "\"resp_bench0000000000000001\",\"object\":\"response\",\"status\":\"completed\","
                  "\"model\":\"bench-1\",\"output\":[],\"usage\":{\"input_tokens\":1150,"
                  "\"output_tokens\":160,\"total_tokens\":1310}}}");
  end_stream(kMessages);
  end_stream(kResponses);
}

static void prepare(void) {
  const char *content =
      "Warden relays this answer from a benchmark upstream. It is about one kilobyte long so that "
      "the response resembles a short real completion, with an id, usage and a finish reason. "
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
      "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation "
      "ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in "
      "reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.";
  char body[1600];
  int blen = snprintf(body, sizeof body,
                      "{\"id\":\"chatcmpl-bench0000000000000001\",\"object\":\"chat.completion\","
                      "\"created\":1790000000,\"model\":\"bench-1\",\"choices\":[{\"index\":0,"
                      "\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},\"finish_reason\":"
                      "\"stop\"}],\"usage\":{\"prompt_tokens\":1150,\"completion_tokens\":160,"
                      "\"total_tokens\":1310}}",
                      content);
  (void)blen;
  set_json(kChat, body);
  prepare_apis(content);
  stream_head_len = (size_t)snprintf(stream_head, sizeof stream_head,
                                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                     "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
  char ev[400];
  static const char *const prose[] = {
      "Sure", ",", " here", " is", " the", " summary", ":", " the", " billing", " migration",
      " is", " on", " track", " and", " latency", " improved", " after", " the", " fix", ".", NULL};
  static const char *const pii[] = {
      "Sure", ",", " write", " to", " jane", ".", "doe", "@", "example", ".com", " or", " pay",
      " with", " card", " 4111", " 1111", " 1111", " 1111", " today", ".", NULL};
  int chat_events = n_events;
  if (answer != NULL) {
    add_event("{\"id\":\"chatcmpl-bench0000000000000001\",\"object\":\"chat.completion.chunk\","
              "\"created\":1790000000,\"model\":\"bench-1\",\"choices\":[{\"index\":0,\"delta\":"
              "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}");
    const char *const *words = strcmp(answer, "pii") == 0 ? pii : prose;
    for (int i = 0; words[i] != NULL; i++) {
      snprintf(ev, sizeof ev,
               "{\"id\":\"chatcmpl-bench0000000000000001\",\"object\":\"chat.completion.chunk\","
               "\"created\":1790000000,\"model\":\"bench-1\",\"choices\":[{\"index\":0,\"delta\":"
               "{\"content\":\"%s\"},\"finish_reason\":null}]}",
               words[i]);
      add_event(ev);
    }
    chat_events = 0;
  }
  for (int i = 0; i < chat_events && i < 60; i++) {
    snprintf(ev, sizeof ev,
             "{\"id\":\"chatcmpl-bench0000000000000001\",\"object\":\"chat.completion.chunk\","
             "\"created\":1790000000,\"model\":\"bench-1\",\"choices\":[{\"index\":0,\"delta\":"
             "{\"content\":\"token%02d \"},\"finish_reason\":null}]}",
             i);
    add_event(ev);
  }
  add_event("{\"id\":\"chatcmpl-bench0000000000000001\",\"object\":\"chat.completion.chunk\","
            "\"created\":1790000000,\"model\":\"bench-1\",\"choices\":[{\"index\":0,\"delta\":{},"
            "\"finish_reason\":\"stop\"}]}");
  add_event("[DONE]");
  end_stream(kChat);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { /* loopback buffers are large; wait briefly */
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  conns[c->fd] = NULL;
  free(c->in);
  free(c);
}

/* Sends the whole stream at once (burst) or its first event (paced). */
static int start_stream(struct conn *c, int api) {
  if (write_all(c->fd, stream_head, stream_head_len) < 0) return -1;
  c->api = api;
  if (delay_us == 0) {
    for (int i = 0; i < total_events[api]; i++)
      if (write_all(c->fd, events[api][i], event_len[api][i]) < 0) return -1;
    return 0;
  }
  if (write_all(c->fd, events[api][0], event_len[api][0]) < 0) return -1;
  c->streaming = 1;
  c->next_event = 1;
  c->next_at = now_us() + delay_us;
  return 0;
}

/* Handles every whole request in the buffer; returns -1 to close. */
static int handle(struct conn *c) {
  for (;;) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head_len = (size_t)(end - c->in) + 4;
    size_t body_len = 0;
    for (char *p = c->in; p < end; p++) {
      if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) {
        body_len = strtoul(p + 16, NULL, 10);
        break;
      }
    }
    if (c->in_len < head_len + body_len) return 0;
    const char *body = c->in + head_len;
    int api = memmem(c->in, head_len, "/chat/completions", 17) != NULL ? kChat
              : memmem(c->in, head_len, "/messages ", 10) != NULL  ? kMessages
              : memmem(c->in, head_len, "/responses ", 11) != NULL ? kResponses
                                                                   : -1;
    int stream = memmem(body, body_len, "\"stream\":true", 13) != NULL ||
                 memmem(body, body_len, "\"stream\": true", 14) != NULL;
    if (c->streaming) return 0; /* no pipelining behind a paced stream */
    if (api < 0) {
      const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      if (write_all(c->fd, nf, strlen(nf)) < 0) return -1;
    } else if (stream) {
      if (start_stream(c, api) < 0) return -1;
    } else if (write_all(c->fd, json_resp[api], json_len[api]) < 0) {
      return -1;
    }
    memmove(c->in, c->in + head_len + body_len, c->in_len - head_len - body_len);
    c->in_len -= head_len + body_len;
  }
}

int main(int argc, char **argv) {
  int port = 18080, opt;
  while ((opt = getopt(argc, argv, "p:n:d:a:")) != -1) {
    if (opt == 'p') port = atoi(optarg);
    else if (opt == 'a') answer = optarg;
    else if (opt == 'n') n_events = atoi(optarg);
    else if (opt == 'd') delay_us = atol(optarg);
  }
  signal(SIGPIPE, SIG_IGN);
  prepare();
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int timeout = -1;
    if (delay_us > 0) { /* wake when the next paced event is due (1 ms resolution) */
      long long next = -1, t = now_us();
      for (int fd = 0; fd <= max_fd; fd++) {
        const struct conn *c = conns[fd];
        if (c && c->streaming && (next < 0 || c->next_at < next)) next = c->next_at;
      }
      if (next >= 0) timeout = next <= t ? 0 : (int)((next - t + 999) / 1000);
    }
    int n = epoll_wait(ep, evs, 256, timeout);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int cfd;
        while ((cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (cfd >= kMaxConns) {
            close(cfd);
            continue;
          }
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *c = calloc(1, sizeof *c);
          c->fd = cfd;
          c->in = malloc(kBuf);
          conns[cfd] = c;
          if (cfd > max_fd) max_fd = cfd;
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      struct conn *c = conns[fd];
      if (!c) continue;
      ssize_t r = read(fd, c->in + c->in_len, kBuf - c->in_len);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close_conn(ep, c);
        continue;
      }
      c->in_len += (size_t)r;
      if (handle(c) < 0 || c->in_len == kBuf) close_conn(ep, c);
    }
    if (delay_us > 0) { /* paced streams: send the events that are due */
      long long t = now_us();
      for (int fd = 0; fd <= max_fd; fd++) {
        struct conn *c = conns[fd];
        if (!c || !c->streaming || c->next_at > t) continue;
        if (write_all(fd, events[c->api][c->next_event], event_len[c->api][c->next_event]) < 0) {
          close_conn(ep, c);
          continue;
        }
        if (++c->next_event >= total_events[c->api]) {
          c->streaming = 0;
          if (handle(c) < 0) close_conn(ep, c);
        } else {
          c->next_at += delay_us;
        }
      }
    }
  }
}
