-- GET one entity, with the tenant and Link headers a client would send.
wrk.method = "GET"
