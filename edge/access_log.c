/* access_log.c: buffered access log lines, flushed by the edge's loop a few times a second. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"

#define ACCESS_LOG_FIELD_MAX 512

int access_log_open(access_log *log, const char *where, char *err, size_t errlen)
{
	memset(log, 0, sizeof(*log));
	if (strcmp(where, "off") == 0)
		return 0;
	if (strcmp(where, "-") == 0) {
		log->out = stdout;
	} else {
		log->out = fopen(where, "a");
		if (log->out == NULL) {
			snprintf(err, errlen, "access log %s: %s", where, strerror(errno));
			return -1;
		}
		log->owned = 1;
	}
	/* A terminal sees each line at once; files and pipes get lines in batches. */
	if (isatty(fileno(log->out)))
		setvbuf(log->out, NULL, _IOLBF, 0);
	else
		setvbuf(log->out, NULL, _IOFBF, 1 << 16);
	return 0;
}

static void put_safe(FILE *out, const char *s, size_t len)
{
	char clean[ACCESS_LOG_FIELD_MAX];
	size_t n = len < sizeof(clean) ? len : sizeof(clean);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		clean[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	fwrite(clean, 1, n, out);
	if (len > n)
		fputs("...", out);
}

void access_log_write(access_log *log, const char *method, size_t method_len, const char *path,
		      size_t path_len, int status, const char *service, int64_t duration_us,
		      const char *trace, const char *request_id, size_t request_id_len)
{
	struct timespec now;
	struct tm tm;
	char stamp[32];
	if (log->out == NULL)
		return;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(log->out, "%s.%03ldZ ", stamp, now.tv_nsec / 1000000);
	put_safe(log->out, method, method_len);
	fputc(' ', log->out);
	put_safe(log->out, path, path_len);
	fprintf(log->out, " %d %s %.3fms trace=%.32s [", status, service,
		(double)duration_us / 1000.0, trace != NULL ? trace : "-");
	if (request_id_len > 0)
		put_safe(log->out, request_id, request_id_len);
	else
		fputc('-', log->out);
	fputs("]\n", log->out);
	log->pending++;
}

void access_log_flush(access_log *log)
{
	if (log->out != NULL && log->pending) {
		fflush(log->out);
		log->pending = 0;
	}
}

void access_log_close(access_log *log)
{
	access_log_flush(log);
	if (log->owned)
		fclose(log->out);
	log->out = NULL;
}
