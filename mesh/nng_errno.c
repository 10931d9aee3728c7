/* nng_errno.c: nng's error numbers as errno values (see nng_errno.h). */
#include <errno.h>

#include <nng/nng.h>

#include "nng_errno.h"

int meshi_errno_from_nng(int rv)
{
	static const struct {
		int nng, err;
	} map[] = {
	    {NNG_EINTR, EINTR},		  {NNG_ENOMEM, ENOMEM},
	    {NNG_EINVAL, EINVAL},	  {NNG_EBUSY, EBUSY},
	    {NNG_ETIMEDOUT, ETIMEDOUT},	  {NNG_ECONNREFUSED, ECONNREFUSED},
	    {NNG_ECLOSED, EBADF},	  {NNG_EAGAIN, EAGAIN},
	    {NNG_ENOTSUP, ENOTSUP},	  {NNG_EADDRINUSE, EADDRINUSE},
	    {NNG_ESTATE, EINVAL},	  {NNG_ENOENT, ENOENT},
	    {NNG_EPROTO, EPROTO},	  {NNG_EUNREACHABLE, EHOSTUNREACH},
	    {NNG_EADDRINVAL, EINVAL},	  {NNG_EPERM, EACCES},
	    {NNG_EMSGSIZE, EMSGSIZE},	  {NNG_ECONNABORTED, ECONNABORTED},
	    {NNG_ECONNRESET, ECONNRESET}, {NNG_ECANCELED, ECANCELED},
	    {NNG_ENOFILES, EMFILE},	  {NNG_ENOSPC, ENOSPC},
	    {NNG_EEXIST, EEXIST},	  {NNG_ECRYPTO, EPROTO},
	    {NNG_EPEERAUTH, EACCES},	  {NNG_ECONNSHUT, ECONNRESET},
	};
	if (rv == 0)
		return 0;
	if (rv & NNG_ESYSERR)
		return rv & ~NNG_ESYSERR;
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].nng == rv)
			return map[i].err;
	return EIO;
}
