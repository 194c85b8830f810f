/* connect()/sendto() loop for bench/policy.sh: ns per call, as the process's cgroup sees
 * it. usage: policy_loop connect|sendto DST_IP PORT ITERATIONS
 *   connect: one UDP socket, connect() to DST:PORT N times (cgroup/connect4 runs each time;
 *            no packet is sent)
 *   sendto:  one unconnected UDP socket, sendto() 1 byte to DST:PORT N times
 *            (cgroup/sendmsg4 and the netfilter output hook run each time); a socket of
 *            this process bound to DST:PORT receives (and, never read, drops) them, so no
 *            ICMP port-unreachable is generated */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s connect|sendto DST_IP PORT ITERATIONS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
    long n = atol(argv[4]), fails = 0;
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    if (argv[1][0] == 's' && bind(sink, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("bind");
        return 1;
    }
    char b = 'x';
    double t0 = now();
    for (long i = 0; i < n; i++) {
        if (argv[1][0] == 'c') {
            if (connect(udp, (struct sockaddr *)&a, sizeof a) != 0) fails++;
        } else {
            if (sendto(udp, &b, 1, 0, (struct sockaddr *)&a, sizeof a) != 1) fails++;
        }
    }
    double ns = (now() - t0) / n;
    printf("{\"mode\": \"%s\", \"ns_per_call\": %.1f, \"calls\": %ld, \"failed\": %ld}\n", argv[1], ns, n, fails);
    return 0;
}
