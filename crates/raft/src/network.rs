//! Raft RPCs over gRPC, client side.
//!
//! openraft asks [`RaftNetworkFactory::new_client`] for a client before
//! every vote round, every replication stream and every linearizable read,
//! so it must be cheap: it never connects. Channels are created lazily, one
//! per peer, and cached by node id; tonic reconnects a broken channel by
//! itself. A peer whose address changed gets a new channel.
//!
//! Payloads are openraft's serde types in postcard; a reply carries the
//! remote's `Result`, so openraft's own errors (higher vote, ...) cross the
//! wire intact.
//!
//! Every channel is mutual TLS: this node presents its certificate, and
//! accepts only a server whose certificate of the cluster CA names the
//! node it meant to reach (`node-<id>.boxoffice`), whatever address it
//! dialled (a proxy, a moved node).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxoffice_proto::internal::v1::RaftPayload;
use boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient;
use boxoffice_tls::{Identity, Tls};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use crate::splitvote::VoteAnswers;
use crate::types::{Node, NodeId, TypeConfig};

/// How long to wait for a TCP connection to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Cached gRPC channels to peers, shared by Raft replication, write
/// forwarding and read-index requests.
#[derive(Clone)]
pub struct Channels {
    cache: Arc<Mutex<HashMap<NodeId, (String, Channel)>>>,
    /// Addresses to dial some peers at instead of their advertised ones.
    dial: Arc<BTreeMap<NodeId, String>>,
    /// This node's certificate and the cluster CA.
    tls: Tls,
}

impl Channels {
    /// Channels that present `tls`'s certificate and dial the peers in
    /// `dial` at the given addresses instead of their advertised ones (a
    /// fault-injection proxy per link).
    pub fn new(tls: Tls, dial: BTreeMap<NodeId, String>) -> Self {
        Self {
            cache: Arc::default(),
            dial: Arc::new(dial),
            tls,
        }
    }

    /// Where to connect to reach `id`, advertised at `addr`.
    pub fn dial_addr<'a>(&'a self, id: NodeId, addr: &'a str) -> &'a str {
        self.dial.get(&id).map_or(addr, String::as_str)
    }

    /// The channel to `id` at `addr`, created lazily on first use.
    pub fn get(&self, id: NodeId, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let addr = self.dial_addr(id, addr);
        let mut cache = self.cache.lock().expect("channel cache lock poisoned");
        if let Some((cached_addr, channel)) = cache.get(&id)
            && cached_addr == addr
        {
            return Ok(channel.clone());
        }
        let channel = self
            .tls
            .endpoint(addr, &Identity::Node(id).dns_name())?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        cache.insert(id, (addr.to_owned(), channel.clone()));
        Ok(channel)
    }

    /// A Raft-service client for `id` at `addr`.
    pub fn raft_client(
        &self,
        id: NodeId,
        addr: &str,
    ) -> Result<RaftServiceClient<Channel>, tonic::transport::Error> {
        Ok(RaftServiceClient::new(self.get(id, addr)?)
            .max_decoding_message_size(crate::server::MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(crate::server::MAX_PEER_MESSAGE_BYTES))
    }
}

/// The [`RaftNetworkFactory`] handed to openraft.
#[derive(Clone)]
pub struct Network {
    channels: Channels,
    answers: VoteAnswers,
}

impl Network {
    /// A factory sharing `channels` with the rest of the node, reporting
    /// the answers to this node's vote requests to `answers`.
    pub fn new(channels: Channels, answers: VoteAnswers) -> Self {
        Self { channels, answers }
    }
}

/// A client for one peer.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    channels: Channels,
    answers: VoteAnswers,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        PeerClient {
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
            answers: self.answers.clone(),
        }
    }
}

/// Which RPC of the Raft service to call.
#[derive(Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let data =
            postcard::to_allocvec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self
            .channels
            .raft_client(self.target, &self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(option.hard_ttl());
        let reply = match rpc {
            Rpc::AppendEntries => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::InstallSnapshot => client.install_snapshot(request).await,
        }
        .map_err(status_to_rpc_error)?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            postcard::from_bytes(&reply.into_inner().data)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn status_to_rpc_error<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, Node, E> {
    match status.code() {
        // Connection refused, reset, DNS: back off before retrying.
        tonic::Code::Unavailable | tonic::Code::Unknown => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.call(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.answers.asking(rpc.vote.leader_id.term);
        let resp: VoteResponse<NodeId> = self.call(Rpc::Vote, &rpc, &option).await?;
        self.answers.answered(
            rpc.vote.leader_id.term,
            resp.vote_granted,
            rpc.last_log_id.as_ref(),
            resp.last_log_id.as_ref(),
        );
        Ok(resp)
    }
}
