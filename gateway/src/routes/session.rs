//! `POST /api/session` (sign in with a token: an HttpOnly session cookie),
//! `GET /api/session` (who is signed in), `DELETE /api/session` (sign out),
//! and the checks nginx asks (`auth_request`): `GET /api/session/check` (may
//! this browser view the office) and `GET /api/session/studio` (may it edit
//! in Sim Studio: operators only).

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
                    edge.check_guessing(client).map_err(reject)?;
                    edge.spend(Action::SignIn, "", client).map_err(reject)?;
                    let signed_in = match service.sign_in(&request.token).await {
                        Ok(signed_in) => signed_in,
                        Err(error) => {
                            if matches!(error, crate::core::CoreError::NotSignedIn) {
                                edge.note_wrong_token(client);
                            }
                            return Err(reject(error));
                        }
                    };
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
        .and(caller_any(service.clone(), edge.clone()))
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
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .map(|_: Caller| warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT));
    // Sim Studio edits workflows: nginx lets operators in, not viewers.
    let studio = warp::path!("api" / "session" / "studio")
        .and(warp::get())
        .and(caller_for(service, edge, Right::Operate, None))
        .map(|_: Caller| warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT));
    check.or(studio).or(sign_in).or(who).or(sign_out)
}

/// Whoever calls, without a right required (the session endpoint says who it is).
fn caller_any(
    service: Arc<Service>,
    edge: Arc<Edge>,
) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(client(edge.clone()))
        .and_then(
            move |header: Option<String>, session: Option<String>, client| {
                let (service, edge) = (service.clone(), edge.clone());
                async move {
                    let bearer = super::bearer(header.as_deref());
                    let caller = super::identify(
                        &service,
                        &edge,
                        client,
                        Credentials {
                            bearer: bearer.as_deref(),
                            session: session.as_deref(),
                        },
                    )
                    .await
                    .map_err(reject)?;
                    if caller == Caller::Anonymous {
                        return Err(reject(ApiError::unauthorized()));
                    }
                    Ok(caller)
                }
            },
        )
}
