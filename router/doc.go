// Package router routes WebSocket handshakes by path: a WSRouter is an
// http.Handler with path patterns and typed parameters, middleware that
// runs before the handshake, and mounting of routers under prefixes.
//
//	rt := router.New()
//	rt.Use(logRequests)                      // router-wide, before any handshake
//	rt.HandleFunc("/rooms/{room:slug}", func(ws *websocket.WebSocket) error {
//		if err := ws.Accept(ws.Context(), nil); err != nil {
//			return err
//		}
//		return ws.SendText("welcome to " + ws.PathParam("room"))
//	})
//	api := router.New()
//	api.HandleFunc("/users/{id:int}", userHandler, requireAuth) // route middleware
//	rt.Mount("/api", api)                    // serves /api/users/42
//	http.ListenAndServe("127.0.0.1:8080", rt)
//
// Routing: a request that matches no route gets 404, a matched request that
// is not a WebSocket upgrade gets 426 (or Options.Fallback), both before
// any handshake. A handler's error closes its connection with 1011 (or the
// code of a websocket.StatusError it carries: 1013 for a broker outage,
// channels.ErrBrokerUnavailable) and is logged; a panic is recovered the
// same way. websocket.Ending has the whole table.
//
// Middleware order, outermost first: the Use middleware of each router on
// the way down (parent before child, each in the order given), then the
// route's own middleware, then the handler.
package router
