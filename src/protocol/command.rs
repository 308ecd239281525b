//! The slash commands people type, turned into [`Request`]s.
//!
//! Plain mode on the server and the interactive client accept the same commands,
//! so both use this one parser.

use super::message::Request;

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Something to send to the server.
    Send(Request),
    /// Show the list of commands.
    Help,
    /// Nothing to do (an empty line).
    Nothing,
}

/// One line for `/help`, per command.
pub const HELP: &[&str] = &[
    "/who               list the people in the room",
    "/msg NICK TEXT     send TEXT to NICK only",
    "/me TEXT           show an action, like: * alice waves",
    "/nick NAME         change your nick",
    "/quit [REASON]     leave the room",
    "/help              show this list",
    "//text             send a message that starts with '/'",
];

/// Parses one typed line.
///
/// # Errors
/// A one-line hint for a person: an unknown command, or a command missing what
/// it needs. Nothing is sent by mistake.
pub fn parse(line: &str) -> Result<Input, String> {
    if line.trim().is_empty() {
        return Ok(Input::Nothing);
    }
    let Some(command_line) = line.strip_prefix('/') else {
        return Ok(say(line));
    };
    if command_line.starts_with('/') {
        return Ok(say(command_line));
    }
    let (name, rest) = command_line.split_once(' ').unwrap_or((command_line, ""));
    let rest = rest.trim();
    let request = match name.to_ascii_lowercase().as_str() {
        "who" | "names" => Request::Who {},
        "help" | "?" => return Ok(Input::Help),
        "me" => Request::Me { text: required(rest, "/me TEXT")?.to_owned() },
        "nick" => Request::Nick { nick: required(rest, "/nick NAME")?.to_owned() },
        "quit" | "exit" => Request::Quit { reason: (!rest.is_empty()).then(|| rest.to_owned()) },
        "msg" | "query" => {
            let (to, text) =
                required(rest, "/msg NICK TEXT")?.split_once(' ').ok_or("usage: /msg NICK TEXT")?;
            Request::Msg {
                text: required(text.trim_start(), "/msg NICK TEXT")?.to_owned(),
                to: Some(to.to_owned()),
            }
        }
        _ => return Err(format!("unknown command /{name}; type /help for the list")),
    };
    Ok(Input::Send(request))
}

fn say(text: &str) -> Input {
    Input::Send(Request::Msg { text: text.to_owned(), to: None })
}

fn required<'a>(arg: &'a str, usage: &str) -> Result<&'a str, String> {
    if arg.is_empty() {
        Err(format!("usage: {usage}"))
    } else {
        Ok(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(line: &str) -> Request {
        match parse(line) {
            Ok(Input::Send(request)) => request,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn text_is_a_room_message() {
        assert_eq!(send("hello there"), Request::Msg { text: "hello there".into(), to: None });
        assert_eq!(send("//etc/hosts"), Request::Msg { text: "/etc/hosts".into(), to: None });
    }

    #[test]
    fn commands() {
        assert_eq!(send("/who"), Request::Who {});
        assert_eq!(send("/WHO"), Request::Who {});
        assert_eq!(send("/me waves  hi"), Request::Me { text: "waves  hi".into() });
        assert_eq!(send("/nick rob"), Request::Nick { nick: "rob".into() });
        assert_eq!(send("/quit"), Request::Quit { reason: None });
        assert_eq!(
            send("/quit gone fishing"),
            Request::Quit { reason: Some("gone fishing".into()) }
        );
        assert_eq!(
            send("/msg bob see  you"),
            Request::Msg { text: "see  you".into(), to: Some("bob".into()) }
        );
        assert_eq!(parse("/help"), Ok(Input::Help));
        assert_eq!(parse("   "), Ok(Input::Nothing));
    }

    #[test]
    fn mistakes_get_a_hint_not_a_message() {
        assert!(parse("/dance").unwrap_err().contains("unknown command /dance"));
        assert_eq!(parse("/msg bob").unwrap_err(), "usage: /msg NICK TEXT");
        assert_eq!(parse("/msg").unwrap_err(), "usage: /msg NICK TEXT");
        assert_eq!(parse("/nick").unwrap_err(), "usage: /nick NAME");
        assert_eq!(parse("/me").unwrap_err(), "usage: /me TEXT");
    }
}
