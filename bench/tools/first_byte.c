/* first_byte: start a command with its stdout on a pipe and time, from
 * just before the fork, its first output byte and, optionally, the
 * first occurrence of a string. Then stop it (SIGTERM, then SIGKILL).
 * Used by bench/linux_bench.sh for "process start to first serial byte".
 *
 * usage: first_byte SECONDS STRING CMD [ARGS...]
 * prints: "FIRST_MS STRING_MS" in milliseconds, "-" for what did not
 * come within SECONDS; STRING "" skips the second figure. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static pid_t start(char **argv, int *out)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		perror("first_byte");
		exit(2);
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		freopen("/dev/null", "r", stdin);
		freopen("/dev/null", "w", stderr);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void print_ms(double ms)
{
	if (ms < 0)
		printf("-");
	else
		printf("%.1f", ms);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: first_byte SECONDS STRING CMD [ARGS...]\n");
		return 2;
	}
	double limit = atof(argv[1]) * 1e3, first = -1, found = -1;
	const char *want = argv[2];
	size_t want_len = strlen(want), have = 0;
	char window[4096];
	double t0 = now_ms();
	int out;
	pid_t pid = start(argv + 3, &out);

	while (now_ms() - t0 < limit && (found < 0 && (want_len || first < 0))) {
		struct pollfd p = { .fd = out, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		char buf[1024];
		ssize_t n = read(out, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (first < 0)
			first = now_ms() - t0;
		for (ssize_t i = 0; i < n && want_len; i++) {
			if (have == sizeof(window)) {   /* keep a possible match's start */
				memmove(window, window + have - want_len, want_len);
				have = want_len;
			}
			window[have++] = buf[i];
			if (have >= want_len && !memcmp(window + have - want_len, want, want_len)) {
				found = now_ms() - t0;
				break;
			}
		}
	}
	stop(pid);
	print_ms(first);
	printf(" ");
	print_ms(found);
	printf("\n");
	return 0;
}
