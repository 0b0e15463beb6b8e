//! `POST /api/session` (sign in with a token: an HttpOnly session cookie),
//! `GET /api/session` (who is signed in), `DELETE /api/session` (sign out),
//! and `GET /api/session/check`, which nginx asks before it lets a browser
//! into Sim Studio (`auth_request`).

use super::edge::{Action, Edge, client};
use super::{ApiError, RouteSettings, SESSION_COOKIE, caller_for, json_body, reject, with_service};
use crate::auth::{Caller, Right};
use crate::core::{Credentials, Service};
use protocol::SignInRequest;
use std::sync::Arc;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
    edge: Arc<Edge>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let sign_in = warp::path!("api" / "session")
        .and(warp::post())
        .and(client(edge.clone()))
        .and(json_body::<SignInRequest>(
            settings.body_limit,
            settings.body_timeout,
        ))
        .and(with_service(service.clone()))
        .and_then({
            let edge = edge.clone();
            move |client: std::net::IpAddr, request: SignInRequest, service: Arc<Service>| {
                let edge = edge.clone();
                async move {
                    edge.spend(Action::SignIn, "", client).map_err(reject)?;
                    let signed_in = service.sign_in(&request.token).await.map_err(reject)?;
                    let mut response = warp::reply::json(&signed_in.info).into_response();
                    let cookie = format!(
                        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                        signed_in.session_id,
                        signed_in.lifetime_secs,
                        if edge.secure_cookies { "; Secure" } else { "" }
                    );
                    response.headers_mut().insert(
                        "set-cookie",
                        HeaderValue::from_str(&cookie).expect("the cookie is ASCII"),
                    );
                    Ok::<_, Rejection>(response)
                }
            }
        });
    let who = warp::path!("api" / "session")
        .and(warp::get())
        .and(caller_any(service.clone()))
        .and(with_service(service.clone()))
        .and_then(|caller: Caller, service: Arc<Service>| async move {
            let info = service.session_info(&caller).map_err(reject)?;
            Ok::<_, Rejection>(warp::reply::json(&info))
        });
    let sign_out = warp::path!("api" / "session")
        .and(warp::delete())
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(with_service(service.clone()))
        .and_then({
            let edge = edge.clone();
            move |session: Option<String>, service: Arc<Service>| {
                let secure = edge.secure_cookies;
                async move {
                    if let Some(session) = session {
                        service.sign_out(&session).await.map_err(reject)?;
                    }
                    let mut response =
                        warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT)
                            .into_response();
                    let cookie = format!(
                        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
                        if secure { "; Secure" } else { "" }
                    );
                    response.headers_mut().insert(
                        "set-cookie",
                        HeaderValue::from_str(&cookie).expect("the cookie is ASCII"),
                    );
                    Ok::<_, Rejection>(response)
                }
            }
        });
    let check = warp::path!("api" / "session" / "check")
        .and(warp::get())
        .and(caller_for(service, edge, Right::View, None))
        .map(|_: Caller| warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT));
    check.or(sign_in).or(who).or(sign_out)
}

/// Whoever calls, without a right required (the session endpoint says who it is).
fn caller_any(
    service: Arc<Service>,
) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and_then(move |header: Option<String>, session: Option<String>| {
            let service = service.clone();
            async move {
                let bearer = super::bearer(header.as_deref());
                let caller = service
                    .caller_for(Credentials {
                        bearer: bearer.as_deref(),
                        session: session.as_deref(),
                    })
                    .await;
                if caller == Caller::Anonymous {
                    return Err(reject(ApiError::unauthorized()));
                }
                Ok(caller)
            }
        })
}
