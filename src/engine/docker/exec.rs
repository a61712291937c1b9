//! Exec (collected, streamed, or on a terminal) and stats: the engine calls that stream, kept
//! apart from the request/response ones in `mod.rs`.

use super::{DockerEngine, map_err};
use crate::engine::{EngineError, Result};

impl DockerEngine {
    pub(super) async fn exec_collect(
        &self,
        id: &str,
        cmd: &[String],
        opts: &crate::engine::ExecOptions,
    ) -> Result<crate::engine::ExecOutput> {
        use bollard::exec::StartExecResults;
        use futures::StreamExt;
        let subject = format!("container `{id}`");
        let config = exec_config(cmd, opts, false);
        let created = self.docker.create_exec(id, config).await.map_err(|e| map_err(e, "exec in", &subject))?;
        let start = bollard::exec::StartExecOptions { detach: opts.detach, ..Default::default() };
        let mut output = String::new();
        if let StartExecResults::Attached { output: mut out, .. } =
            self.docker.start_exec(&created.id, Some(start)).await.map_err(|e| map_err(e, "exec in", &subject))?
        {
            while let Some(chunk) = out.next().await {
                let chunk = chunk.map_err(|e| map_err(e, "exec in", &subject))?;
                match &opts.stream {
                    Some(tx) => {
                        let stream = match &chunk {
                            bollard::container::LogOutput::StdErr { .. } => crate::engine::LogStream::Stderr,
                            _ => crate::engine::LogStream::Stdout,
                        };
                        let _ = tx.send(crate::engine::LogChunk { stream, bytes: chunk.into_bytes().to_vec() });
                    }
                    None => output.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
                }
            }
        }
        if opts.detach {
            return Ok(crate::engine::ExecOutput { exit_code: 0, output });
        }
        let inspect = self.docker.inspect_exec(&created.id).await.map_err(|e| map_err(e, "exec in", &subject))?;
        Ok(crate::engine::ExecOutput { exit_code: inspect.exit_code.unwrap_or(-1), output })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exec_terminal(
        &self,
        id: &str,
        cmd: &[String],
        opts: &crate::engine::ExecOptions,
        size: tokio::sync::watch::Receiver<(u16, u16)>,
        mut input: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        output: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> Result<i64> {
        use bollard::exec::StartExecResults;
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let subject = format!("container `{id}`");
        let config = exec_config(cmd, opts, true);
        let created = self.docker.create_exec(id, config).await.map_err(|e| map_err(e, "exec in", &subject))?;
        let start = bollard::exec::StartExecOptions { tty: true, ..Default::default() };
        if let StartExecResults::Attached { output: mut out, input: mut stdin } =
            self.docker.start_exec(&created.id, Some(start)).await.map_err(|e| map_err(e, "exec in", &subject))?
        {
            let (docker, exec_id) = (self.docker.clone(), created.id.clone());
            let resizer = follow_size(size, move |h, w| {
                let (docker, exec_id) = (docker.clone(), exec_id.clone());
                async move {
                    let _ = docker.resize_exec(&exec_id, bollard::query_parameters::ResizeExecOptions { h, w }).await;
                }
            });
            let feeder = tokio::spawn(async move {
                while let Some(bytes) = input.recv().await {
                    if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                        break;
                    }
                }
            });
            while let Some(chunk) = out.next().await {
                let Ok(chunk) = chunk else { break };
                if output.send(chunk.into_bytes().to_vec()).is_err() {
                    break;
                }
            }
            feeder.abort();
            resizer.abort();
        }
        let inspect = self.docker.inspect_exec(&created.id).await.map_err(|e| map_err(e, "exec in", &subject))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    /// A long-lived exec with stdin open and no TTY: bytes written go to its stdin, its stdout
    /// and stderr come back merged. Ends when the process exits or the input is dropped.
    pub(super) async fn exec_session(&self, id: &str, cmd: &[String]) -> Result<crate::engine::ExecSession> {
        use bollard::exec::StartExecResults;
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let subject = format!("container `{id}`");
        let mut config = exec_config(cmd, &crate::engine::ExecOptions::default(), false);
        config.attach_stdin = Some(true);
        let created = self.docker.create_exec(id, config).await.map_err(|e| map_err(e, "exec in", &subject))?;
        let started = self.docker.start_exec(&created.id, None).await.map_err(|e| map_err(e, "exec in", &subject))?;
        let StartExecResults::Attached { output: mut out, input: mut stdin } = started else {
            return Err(EngineError::Api {
                operation: format!("exec in {subject}"),
                status: 0,
                message: "not attached".into(),
            });
        };
        let (in_tx, mut in_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(bytes) = in_rx.recv().await {
                if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
            let _ = stdin.shutdown().await;
        });
        tokio::spawn(async move {
            while let Some(Ok(chunk)) = out.next().await {
                if out_tx.send(chunk.into_bytes().to_vec()).is_err() {
                    break;
                }
            }
        });
        Ok(crate::engine::ExecSession { input: in_tx, output: out_rx })
    }

    /// Attaches to container `id` (see [`crate::engine::Engine::attach_container`]).
    pub(super) async fn attach(&self, id: &str, t: crate::engine::Terminal) -> Result<()> {
        use crate::engine::{LogChunk, LogStream};
        use bollard::container::LogOutput;
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let subject = format!("container `{id}`");
        let opts = bollard::query_parameters::AttachContainerOptions {
            stdin: t.input.is_some(),
            stdout: true,
            stderr: true,
            stream: true,
            logs: true,
            detach_keys: None,
        };
        let attached =
            self.docker.attach_container(id, Some(opts)).await.map_err(|e| map_err(e, "attaching to", &subject))?;
        let (mut out, mut stdin) = (attached.output, attached.input);
        let feeder = t.input.map(|mut input| {
            tokio::spawn(async move {
                while let Some(bytes) = input.recv().await {
                    if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                        return;
                    }
                }
                // The caller's stdin ended: so does the container's (it was created stdin-once).
                let _ = stdin.shutdown().await;
            })
        });
        let resizer = t.size.map(|size| {
            let (docker, id) = (self.docker.clone(), id.to_string());
            follow_size(size, move |h, w| {
                let (docker, id) = (docker.clone(), id.clone());
                async move {
                    let opts = bollard::query_parameters::ResizeContainerTTYOptions { h, w };
                    let _ = docker.resize_container_tty(&id, opts).await;
                }
            })
        });
        // Bytes delivered per stream (stdout, stderr, console), to complete the output from the
        // logs once the container has exited.
        let mut sent = [0usize; 3];
        let slot = |stream: LogStream| match stream {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
            _ => 2,
        };
        let mut send = |chunk: LogOutput| {
            let (stream, bytes) = match chunk {
                LogOutput::StdOut { message } => (LogStream::Stdout, message),
                LogOutput::StdErr { message } => (LogStream::Stderr, message),
                LogOutput::Console { message } | LogOutput::StdIn { message } => (LogStream::Console, message),
            };
            sent[slot(stream)] += bytes.len();
            t.output.send(LogChunk { stream, bytes: bytes.to_vec() }).is_ok()
        };
        // The attach stream may stay open after the container exits (bollard#251): the exit
        // is watched too, and then what is left is drained until the stream goes quiet.
        let mut exited = self.docker.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
        let mut ended = false;
        loop {
            tokio::select! {
                chunk = out.next() => match chunk {
                    Some(Ok(c)) => {
                        if !send(c) {
                            break;
                        }
                    }
                    _ => {
                        // The stream ended, normally because the container is exiting: once it
                        // has, its logs are complete.
                        let quick = tokio::time::timeout(std::time::Duration::from_secs(2), exited.next());
                        ended = quick.await.is_ok();
                        break;
                    }
                },
                _ = exited.next() => {
                    while let Ok(Some(Ok(c))) = tokio::time::timeout(std::time::Duration::from_millis(200), out.next()).await {
                        if !send(c) {
                            break;
                        }
                    }
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            // What the attach stream had not delivered (a busy engine can close it early, or be
            // slower than the drain), from the complete logs of the exited container.
            let mut logs = crate::engine::Engine::logs(self, id, &crate::engine::LogOptions::default());
            let mut seen = [0usize; 3];
            while let Some(Ok(chunk)) = logs.next().await {
                let i = slot(chunk.stream);
                let skip = sent[i].saturating_sub(seen[i]).min(chunk.bytes.len());
                seen[i] += chunk.bytes.len();
                if skip < chunk.bytes.len() {
                    sent[i] += chunk.bytes.len() - skip;
                    let rest = LogChunk { stream: chunk.stream, bytes: chunk.bytes[skip..].to_vec() };
                    if t.output.send(rest).is_err() {
                        break;
                    }
                }
            }
        }
        feeder.into_iter().for_each(|f| f.abort());
        resizer.into_iter().for_each(|r| r.abort());
        Ok(())
    }

    pub(super) async fn stats_sample(&self, id: &str) -> Result<crate::engine::Stats> {
        use futures::StreamExt;
        let opts = bollard::query_parameters::StatsOptions { stream: false, one_shot: false };
        let mut stream = self.docker.stats(id, Some(opts));
        let s = match stream.next().await {
            Some(r) => r.map_err(|e| map_err(e, "reading the stats of", &format!("container `{id}`")))?,
            None => return Err(EngineError::NotFound { what: format!("stats of container `{id}`") }),
        };
        let cpu = s.cpu_stats.unwrap_or_default();
        let pre = s.precpu_stats.unwrap_or_default();
        let total =
            |c: &bollard::models::ContainerCpuStats| c.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0);
        let cpu_delta = total(&cpu).saturating_sub(total(&pre)) as f64;
        let sys_delta = cpu.system_cpu_usage.unwrap_or(0).saturating_sub(pre.system_cpu_usage.unwrap_or(0)) as f64;
        let cpus = cpu.online_cpus.unwrap_or(1).max(1) as f64;
        let mem = s.memory_stats.unwrap_or_default();
        let cache = mem
            .stats
            .as_ref()
            .and_then(|m| m.get("inactive_file").or_else(|| m.get("total_inactive_file")).or_else(|| m.get("cache")))
            .copied()
            .unwrap_or(0);
        let (rx, tx) = s
            .networks
            .unwrap_or_default()
            .values()
            .fold((0, 0), |(r, t), n| (r + n.rx_bytes.unwrap_or(0), t + n.tx_bytes.unwrap_or(0)));
        Ok(crate::engine::Stats {
            cpu_percent: if sys_delta > 0.0 { cpu_delta / sys_delta * cpus * 100.0 } else { 0.0 },
            mem_usage: mem.usage.unwrap_or(0).saturating_sub(cache),
            mem_limit: mem.limit.unwrap_or(0),
            net_rx: rx,
            net_tx: tx,
            pids: s.pids_stats.and_then(|p| p.current).unwrap_or(0),
        })
    }
}

/// The exec request: output attached; with `tty`, stdin attached and a terminal too.
/// Calls `resize(rows, columns)` with the terminal's size now, then at each change (SIGWINCH).
fn follow_size<F, Fut>(mut size: tokio::sync::watch::Receiver<(u16, u16)>, resize: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(i32, i32) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            let (h, w) = *size.borrow_and_update();
            resize(h as i32, w as i32).await;
            if size.changed().await.is_err() {
                break;
            }
        }
    })
}

fn exec_config(cmd: &[String], opts: &crate::engine::ExecOptions, tty: bool) -> bollard::models::ExecConfig {
    bollard::models::ExecConfig {
        attach_stdin: tty.then_some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: tty.then_some(true),
        cmd: Some(cmd.to_vec()),
        user: opts.user.clone(),
        env: (!opts.env.is_empty()).then(|| opts.env.clone()),
        working_dir: opts.working_dir.clone(),
        privileged: opts.privileged.then_some(true),
        ..Default::default()
    }
}
