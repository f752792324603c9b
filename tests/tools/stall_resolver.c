// A getaddrinfo that holds one host name, for the test that a slow DNS stalls only the requests
// that need the name (integration/limits.test.mjs): preloaded into the gateway (LD_PRELOAD), it
// holds WARDEN_STALL_HOST until the file WARDEN_STALL_GATE exists, then answers that the name is
// unknown, as a DNS server that answers late and then NXDOMAIN would, and whatever the machine's
// DNS does. "<gate>.entered" is created once a lookup is held, so that the test knows it began.
// Other names go to the C library's getaddrinfo.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*getaddrinfo_fn)(const char*, const char*, const struct addrinfo*,
                              struct addrinfo**);

// Looked up once at load time, before the gateway starts threads.
static getaddrinfo_fn next_getaddrinfo;
__attribute__((constructor)) static void init(void) {
  next_getaddrinfo = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                struct addrinfo** res) {
  const char* host = getenv("WARDEN_STALL_HOST");
  const char* gate = getenv("WARDEN_STALL_GATE");
  if (node == NULL || host == NULL || gate == NULL || strcmp(node, host) != 0)
    return next_getaddrinfo(node, service, hints, res);
  if (access(gate, F_OK) != 0) {
    char entered[4096];
    snprintf(entered, sizeof entered, "%s.entered", gate);
    const int fd = open(entered, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) close(fd);
    const struct timespec tick = {0, 1000000};
    while (access(gate, F_OK) != 0) nanosleep(&tick, NULL);
  }
  return EAI_NONAME;
}
