// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @title FederatedRounds
 * @notice Federated-learning jobs coordinated on chain: a sponsor escrows a bounty, participants join
 * (optionally staking), commit the CID of their update each round, attest the CID of the round's
 * aggregate, and are paid at the end in proportion to their accepted sample counts.
 *
 * Rounds: round 1 starts when the job is opened; round r+1 starts when round r finalizes. A round's
 * commit deadline is its start plus `roundDuration`: a commitment after it is refused (the participant
 * is skipped for that round, not waited for). Aggregators (joined participants) may attest once the
 * deadline passed, or earlier once every participant committed; the round finalizes when `aggregatorsK`
 * attestations name the same aggregate CID (aggregation is deterministic, so honest aggregators agree).
 * At finalization every attester of the round that named another CID is slashed: its stake goes to the
 * bounty pool (it keeps its reward for accepted updates). Attestations after finalization are refused.
 *
 * Rejections: here the sponsor decides which updates are outliers or poisoned ({rejectUpdate}); in a
 * full system the aggregators' report (e.g. a robust rule's verdict) would decide. A rejected update
 * earns nothing.
 *
 * Payout: once the last round is finalized (or the job stalled, see {payout}), anyone may call {payout}: each participant gets
 * `pool * accepted / totalAccepted` (floor) of the pool (bounty plus slashed stakes) and its unslashed
 * stake back; the rounding dust, or the whole pool if no update was accepted, goes to the sponsor.
 *
 * The job's terms are a struct because three strings plus a permit exceed the EVM's stack.
 */
contract FederatedRounds is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint16 public constant MAX_ROUNDS = 1000;
    uint16 public constant MAX_PARTICIPANTS = 100;
    uint64 public constant MAX_ROUND_DURATION = 30 days;

    struct JobTerms {
        /// @dev ModelRegistry version id of the model trained from.
        uint256 baseVersionId;
        string taskSpecCid;
        uint16 rounds;
        uint16 participantsWanted;
        /// @dev Aggregation strategy, e.g. "fedavg" or "trimmed-mean".
        string strategy;
        /// @dev Differential-privacy parameters (e.g. JSON); "" when DP is off.
        string dpParams;
        uint256 bounty;
        /// @dev Tokens each participant stakes on joining (may be 0).
        uint256 stake;
        /// @dev Agreeing attestations that finalize a round.
        uint16 aggregatorsK;
        uint64 roundDuration;
    }

    struct Job {
        address sponsor;
        uint64 openedAt;
        uint16 participantCount;
        /// @dev Rounds finalized so far (rounds finalize in order).
        uint16 finalizedRounds;
        bool paidOut;
        /// @dev The pool paid out: the bounty plus slashed stakes.
        uint256 pool;
        /// @dev Sum of the participants' accepted numExamples.
        uint256 totalAccepted;
        JobTerms terms;
    }

    struct Round {
        /// @dev Commit deadline (exclusive); 0 until the round started.
        uint64 deadline;
        uint64 finalizedAt;
        uint16 commitCount;
        uint16 attestationCount;
        /// @dev The agreed aggregate CID; "" until finalized.
        string aggregateCid;
    }

    struct Commitment {
        address participant;
        uint64 committedAt;
        bool rejected;
        uint256 numExamples;
        string updateCid;
    }

    struct Participant {
        bool joined;
        bool slashed;
        /// @dev Stake held (0 once slashed or returned).
        uint256 stake;
        /// @dev Sum of numExamples of its updates not rejected.
        uint256 acceptedExamples;
        /// @dev Paid at payout.
        uint256 reward;
    }

    IERC20 public immutable token;
    uint256 public jobCount;

    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => address[]) private _participantList;
    mapping(uint256 jobId => mapping(address account => Participant)) private _participants;
    mapping(uint256 jobId => mapping(uint256 round => Round)) private _rounds;
    mapping(uint256 jobId => mapping(uint256 round => Commitment[])) private _commitments;
    /// @dev Index + 1 in `_commitments`; 0: no commitment.
    mapping(uint256 jobId => mapping(uint256 round => mapping(address participant => uint256))) private _commitmentIndex;
    mapping(uint256 jobId => mapping(uint256 round => address[])) private _attesters;
    /// @dev keccak256 of the attested CID; 0: no attestation.
    mapping(uint256 jobId => mapping(uint256 round => mapping(address attester => bytes32))) private _attestations;
    mapping(uint256 jobId => mapping(uint256 round => mapping(bytes32 cidHash => uint256))) private _attestationCounts;
    /// @dev Secure aggregation, per round: who advertised keys (in order), their keys and key-share files.
    mapping(uint256 jobId => mapping(uint256 round => address[])) private _maskers;
    mapping(uint256 jobId => mapping(uint256 round => mapping(address participant => MaskingKeys))) private _maskingKeys;

    mapping(uint256 jobId => mapping(uint256 round => uint256)) private _shareCounts;

    /// @dev Bonawitz et al.'s two X25519 public keys (c: encrypts the key shares, s: agrees the pairwise masks) and the shares file.
    struct MaskingKeys {
        bytes32 encryptionKey;
        bytes32 maskingKey;
        string sharesCid;
    }

    event JobOpened(
        uint256 indexed jobId,
        address indexed sponsor,
        uint256 indexed baseVersionId,
        string taskSpecCid,
        uint16 rounds,
        uint16 participantsWanted,
        uint256 bounty,
        uint256 stake,
        uint16 aggregatorsK,
        uint64 roundDuration
    );
    event Joined(uint256 indexed jobId, address indexed participant, uint256 stake);
    event UpdateCommitted(uint256 indexed jobId, uint256 indexed round, address indexed participant, string updateCid, uint256 numExamples);
    event Attested(uint256 indexed jobId, uint256 indexed round, address indexed attester, string aggregateCid);
    event RoundFinalized(uint256 indexed jobId, uint256 indexed round, string aggregateCid, uint256 attestations);
    /// @param amount the stake moved to the bounty pool (0 when the job has no stake or it was slashed before).
    event Slashed(uint256 indexed jobId, uint256 indexed round, address indexed attester, uint256 amount);
    event MetricPosted(uint256 indexed jobId, uint256 indexed round, address indexed validator, string name, int256 valueE6);
    event UpdateRejected(uint256 indexed jobId, uint256 indexed round, address indexed participant, string reason);
    event ParticipantPaid(uint256 indexed jobId, address indexed participant, uint256 reward, uint256 stakeReturned);
    /// @param dust what went back to the sponsor: the rounding rest, or the whole pool if nothing was accepted.
    event JobPaidOut(uint256 indexed jobId, uint256 pool, uint256 dust);
    event MaskingKeysAdvertised(uint256 indexed jobId, uint256 indexed round, address indexed participant, bytes32 encryptionKey, bytes32 maskingKey);
    event KeySharesPublished(uint256 indexed jobId, uint256 indexed round, address indexed participant, string sharesCid);
    /// @param round the round that got no agreement in time; the job was paid out as it stood before it.
    event JobStalled(uint256 indexed jobId, uint256 round);

    error InvalidRounds(uint256 rounds, uint256 max);
    error InvalidParticipantsWanted(uint256 participantsWanted, uint256 max);
    error InvalidAggregatorsK(uint256 aggregatorsK, uint256 participantsWanted);
    error InvalidRoundDuration(uint256 duration, uint256 max);
    error ZeroBounty();
    error EmptyCid();
    error ZeroExamples();
    error UnknownJob(uint256 jobId);
    error NotSponsor(uint256 jobId, address caller);
    error NotParticipant(uint256 jobId, address caller);
    error SponsorCannotJoin(uint256 jobId);
    error AlreadyJoined(uint256 jobId, address account);
    error JobFull(uint256 jobId, uint256 participantsWanted);
    error JoinClosed(uint256 jobId, uint64 deadline);
    error InvalidRound(uint256 jobId, uint256 round, uint256 rounds);
    error RoundNotStarted(uint256 jobId, uint256 round);
    error RoundAlreadyFinalized(uint256 jobId, uint256 round);
    error RoundNotFinalized(uint256 jobId, uint256 round);
    error CommitDeadlinePassed(uint256 jobId, uint256 round, uint64 deadline);
    error AlreadyCommitted(uint256 jobId, uint256 round, address participant);
    error AttestationsNotOpen(uint256 jobId, uint256 round, uint64 deadline);
    error AlreadyAttested(uint256 jobId, uint256 round, address attester);
    error NoCommitment(uint256 jobId, uint256 round, address participant);
    error UpdateAlreadyRejected(uint256 jobId, uint256 round, address participant);
    error EmptyMetricName();
    error JobNotFinished(uint256 jobId, uint256 finalizedRounds, uint256 rounds);
    error AlreadyPaidOut(uint256 jobId);
    error KeysAlreadyAdvertised(uint256 jobId, uint256 round, address participant);
    error KeyPhaseClosed(uint256 jobId, uint256 round);
    error KeyPhaseOpen(uint256 jobId, uint256 round);
    error NoMaskingKeys(uint256 jobId, uint256 round, address participant);
    error SharesAlreadyPublished(uint256 jobId, uint256 round, address participant);
    error SharesPhaseClosed(uint256 jobId, uint256 round);

    constructor(IERC20 token_) {
        token = token_;
    }

    // ---------------------------------------------------------------- sponsors

    /// @notice Opens a job, escrowing `terms.bounty` tokens of the caller (approve them first). Job ids start at 1.
    function openJob(JobTerms calldata terms) external nonReentrant returns (uint256 jobId) {
        return _openJob(terms);
    }

    /// @notice {openJob} with an EIP-2612 permit for the bounty instead of a prior approval.
    function openJobWithPermit(JobTerms calldata terms, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external nonReentrant returns (uint256 jobId) {
        _permit(terms.bounty, deadline, v, r, s);
        return _openJob(terms);
    }

    /**
     * @notice Marks a committed update as rejected (an outlier or poisoned): it earns nothing. Sponsor only,
     * before the payout. In a full system the aggregators' report would decide; here it is the sponsor's call.
     */
    function rejectUpdate(uint256 jobId, uint256 round, address participant, string calldata reason) external {
        Job storage job = _job(jobId);
        if (job.sponsor != msg.sender) revert NotSponsor(jobId, msg.sender);
        if (job.paidOut) revert AlreadyPaidOut(jobId);
        _checkRound(job, jobId, round);
        uint256 index = _commitmentIndex[jobId][round][participant];
        if (index == 0) revert NoCommitment(jobId, round, participant);
        Commitment storage c = _commitments[jobId][round][index - 1];
        if (c.rejected) revert UpdateAlreadyRejected(jobId, round, participant);
        c.rejected = true;
        _participants[jobId][participant].acceptedExamples -= c.numExamples;
        job.totalAccepted -= c.numExamples;
        emit UpdateRejected(jobId, round, participant, reason);
    }

    // ------------------------------------------------------------ participants

    /// @notice Joins a job, staking its `stake` (approve it first). Before round 1's deadline, while places are left.
    function join(uint256 jobId) external nonReentrant {
        _join(jobId);
    }

    /// @notice {join} with an EIP-2612 permit for the stake.
    function joinWithPermit(uint256 jobId, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external nonReentrant {
        _permit(_job(jobId).terms.stake, deadline, v, r, s);
        _join(jobId);
    }

    /// @notice Commits the CID of the caller's update for `round`, trained on `numExamples` samples, before the round's deadline.
    function commitUpdate(uint256 jobId, uint256 round, string calldata updateCid, uint256 numExamples) external {
        Job storage job = _job(jobId);
        _checkParticipant(jobId);
        Round storage r = _startedRound(job, jobId, round);
        if (block.timestamp >= r.deadline) revert CommitDeadlinePassed(jobId, round, r.deadline);
        if (bytes(updateCid).length == 0) revert EmptyCid();
        if (numExamples == 0) revert ZeroExamples();
        if (_commitmentIndex[jobId][round][msg.sender] != 0) revert AlreadyCommitted(jobId, round, msg.sender);
        _commitments[jobId][round].push(Commitment({
            participant: msg.sender,
            committedAt: uint64(block.timestamp),
            rejected: false,
            numExamples: numExamples,
            updateCid: updateCid
        }));
        _commitmentIndex[jobId][round][msg.sender] = _commitments[jobId][round].length;
        r.commitCount++;
        _participants[jobId][msg.sender].acceptedExamples += numExamples;
        job.totalAccepted += numExamples;
        emit UpdateCommitted(jobId, round, msg.sender, updateCid, numExamples);
    }

    /**
     * @notice Attests, as an aggregator, the CID of the round's aggregate: once the deadline passed or every
     * participant committed; one attestation per participant and round. The `aggregatorsK`-th attestation
     * of the same CID finalizes the round and slashes the attesters that named another one.
     */
    function attest(uint256 jobId, uint256 round, string calldata aggregateCid) external {
        Job storage job = _job(jobId);
        _checkParticipant(jobId);
        Round storage r = _startedRound(job, jobId, round);
        if (block.timestamp < r.deadline && r.commitCount < job.participantCount) revert AttestationsNotOpen(jobId, round, r.deadline);
        if (bytes(aggregateCid).length == 0) revert EmptyCid();
        if (_attestations[jobId][round][msg.sender] != 0) revert AlreadyAttested(jobId, round, msg.sender);
        bytes32 cidHash = keccak256(bytes(aggregateCid));
        _attestations[jobId][round][msg.sender] = cidHash;
        _attesters[jobId][round].push(msg.sender);
        r.attestationCount++;
        uint256 agreeing = ++_attestationCounts[jobId][round][cidHash];
        emit Attested(jobId, round, msg.sender, aggregateCid);
        if (agreeing >= job.terms.aggregatorsK) _finalize(job, r, jobId, round, aggregateCid, cidHash, agreeing);
    }

    // ------------------------------------------------------- secure aggregation

    /**
     * @notice Secure aggregation, step 1 of a round: advertise this round's two X25519 public keys. Open
     * while the round's first quarter lasts and not every participant advertised yet; the keys
     * advertised then are the round's masking set, the same for everyone.
     */
    function advertiseMaskingKeys(uint256 jobId, uint256 round, bytes32 encryptionKey, bytes32 maskingKey) external {
        Job storage job = _job(jobId);
        _checkParticipant(jobId);
        Round storage r = _startedRound(job, jobId, round);
        if (encryptionKey == bytes32(0) || maskingKey == bytes32(0)) revert EmptyCid();
        if (_keyPhaseClosed(job, r, jobId, round)) revert KeyPhaseClosed(jobId, round);
        MaskingKeys storage keys = _maskingKeys[jobId][round][msg.sender];
        if (keys.maskingKey != bytes32(0)) revert KeysAlreadyAdvertised(jobId, round, msg.sender);
        keys.encryptionKey = encryptionKey;
        keys.maskingKey = maskingKey;
        _maskers[jobId][round].push(msg.sender);
        emit MaskingKeysAdvertised(jobId, round, msg.sender, encryptionKey, maskingKey);
    }

    /**
     * @notice Step 2: publish the CID of the file holding this participant's key shares (Shamir shares of its
     * masking secret and self-mask seed, each encrypted to one member of the masking set). Once the key
     * phase closed, by members of the masking set, until every member published or half the round is
     * over. Those who published are the round's maskers: masked updates mask with exactly them.
     */
    function publishKeyShares(uint256 jobId, uint256 round, string calldata sharesCid) external {
        Job storage job = _job(jobId);
        Round storage r = _startedRound(job, jobId, round);
        if (bytes(sharesCid).length == 0) revert EmptyCid();
        if (!_keyPhaseClosed(job, r, jobId, round)) revert KeyPhaseOpen(jobId, round);
        if (_sharesPhaseClosed(job, r, jobId, round)) revert SharesPhaseClosed(jobId, round);
        MaskingKeys storage keys = _maskingKeys[jobId][round][msg.sender];
        if (keys.maskingKey == bytes32(0)) revert NoMaskingKeys(jobId, round, msg.sender);
        if (bytes(keys.sharesCid).length != 0) revert SharesAlreadyPublished(jobId, round, msg.sender);
        keys.sharesCid = sharesCid;
        _shareCounts[jobId][round]++;
        emit KeySharesPublished(jobId, round, msg.sender, sharesCid);
    }

    /// @notice A round's masking set, in advertising order, and whether its key phase is closed.
    function maskingKeysOf(uint256 jobId, uint256 round)
        external
        view
        returns (address[] memory participants, bytes32[] memory encryptionKeys, bytes32[] memory maskingKeys, string[] memory sharesCids, bool keyPhaseClosed, bool sharesPhaseClosed)
    {
        Job storage job = _job(jobId);
        _checkRound(job, jobId, round);
        participants = _maskers[jobId][round];
        encryptionKeys = new bytes32[](participants.length);
        maskingKeys = new bytes32[](participants.length);
        sharesCids = new string[](participants.length);
        for (uint256 i = 0; i < participants.length; i++) {
            MaskingKeys storage keys = _maskingKeys[jobId][round][participants[i]];
            encryptionKeys[i] = keys.encryptionKey;
            maskingKeys[i] = keys.maskingKey;
            sharesCids[i] = keys.sharesCid;
        }
        Round storage r = _rounds[jobId][round];
        keyPhaseClosed = r.deadline != 0 && _keyPhaseClosed(job, r, jobId, round);
        sharesPhaseClosed = keyPhaseClosed && _sharesPhaseClosed(job, r, jobId, round);
    }

    /// @dev Every member of the masking set published its shares, or half the round is over.
    function _sharesPhaseClosed(Job storage job, Round storage r, uint256 jobId, uint256 round) private view returns (bool) {
        if (_shareCounts[jobId][round] >= _maskers[jobId][round].length) return true;
        return block.timestamp >= uint256(r.deadline) - job.terms.roundDuration + job.terms.roundDuration / 2;
    }

    /// @dev Every participant advertised, or the first quarter of the round is over.
    function _keyPhaseClosed(Job storage job, Round storage r, uint256 jobId, uint256 round) private view returns (bool) {
        if (_maskers[jobId][round].length >= job.participantCount && job.participantCount > 0 && (round > 1 || job.participantCount >= job.terms.participantsWanted)) return true;
        return block.timestamp >= uint256(r.deadline) - job.terms.roundDuration + job.terms.roundDuration / 4;
    }

    // -------------------------------------------------------------- validators

    /// @notice Records an evaluation metric (value × 10^6) of a finalized round's aggregate. Sponsor or participants.
    function postMetric(uint256 jobId, uint256 round, string calldata name, int256 valueE6) external {
        Job storage job = _job(jobId);
        if (job.sponsor != msg.sender) _checkParticipant(jobId);
        _checkRound(job, jobId, round);
        if (_rounds[jobId][round].finalizedAt == 0) revert RoundNotFinalized(jobId, round);
        if (bytes(name).length == 0) revert EmptyMetricName();
        emit MetricPosted(jobId, round, msg.sender, name, valueE6);
    }

    // ------------------------------------------------------------------ payout

    /**
     * @notice Pays the pool out by accepted samples and returns the stakes, once the last round is finalized —
     * or once the job stalled: its round in progress got no agreement within one more round duration after
     * its deadline. A stalled round's updates never made it into an agreed model and earn nothing. So no
     * bounty or stake stays locked by a job that cannot go on. Anyone may call it.
     */
    function payout(uint256 jobId) external nonReentrant {
        Job storage job = _job(jobId);
        if (job.paidOut) revert AlreadyPaidOut(jobId);
        if (job.finalizedRounds < job.terms.rounds) {
            uint256 current = uint256(job.finalizedRounds) + 1;
            if (block.timestamp < uint256(_rounds[jobId][current].deadline) + job.terms.roundDuration) {
                revert JobNotFinished(jobId, job.finalizedRounds, job.terms.rounds);
            }
            Commitment[] storage unagreed = _commitments[jobId][current];
            for (uint256 i = 0; i < unagreed.length; i++) {
                if (unagreed[i].rejected) continue;
                _participants[jobId][unagreed[i].participant].acceptedExamples -= unagreed[i].numExamples;
                job.totalAccepted -= unagreed[i].numExamples;
            }
            emit JobStalled(jobId, current);
        }
        job.paidOut = true;
        uint256 pool = job.pool;
        uint256 total = job.totalAccepted;
        uint256 paid;
        address[] storage list = _participantList[jobId];
        for (uint256 i = 0; i < list.length; i++) {
            Participant storage p = _participants[jobId][list[i]];
            uint256 reward = total == 0 ? 0 : pool * p.acceptedExamples / total;
            uint256 stake = p.stake;
            p.reward = reward;
            p.stake = 0;
            paid += reward;
            if (reward + stake > 0) token.safeTransfer(list[i], reward + stake);
            emit ParticipantPaid(jobId, list[i], reward, stake);
        }
        uint256 dust = pool - paid;
        if (dust > 0) token.safeTransfer(job.sponsor, dust);
        emit JobPaidOut(jobId, pool, dust);
    }

    // ------------------------------------------------------------------- views

    /// @notice A job; all zero (sponsor the zero address) if there is none with this id.
    function jobOf(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    function roundOf(uint256 jobId, uint256 round) external view returns (Round memory) {
        return _rounds[jobId][round];
    }

    /// @notice The round's commitments, in the order they were made.
    function commitmentsOf(uint256 jobId, uint256 round) external view returns (Commitment[] memory) {
        return _commitments[jobId][round];
    }

    /// @notice How many attestations of the round name `aggregateCid`.
    function attestationCount(uint256 jobId, uint256 round, string calldata aggregateCid) external view returns (uint256) {
        return _attestationCounts[jobId][round][keccak256(bytes(aggregateCid))];
    }

    /// @notice Who attested in the round, in order.
    function attestersOf(uint256 jobId, uint256 round) external view returns (address[] memory) {
        return _attesters[jobId][round];
    }

    /// @notice The participants, in the order they joined.
    function participantsOf(uint256 jobId) external view returns (address[] memory) {
        return _participantList[jobId];
    }

    function participantOf(uint256 jobId, address account) external view returns (Participant memory) {
        return _participants[jobId][account];
    }

    // ---------------------------------------------------------------- internal

    function _openJob(JobTerms calldata terms) private returns (uint256 jobId) {
        if (terms.rounds == 0 || terms.rounds > MAX_ROUNDS) revert InvalidRounds(terms.rounds, MAX_ROUNDS);
        if (terms.participantsWanted == 0 || terms.participantsWanted > MAX_PARTICIPANTS) {
            revert InvalidParticipantsWanted(terms.participantsWanted, MAX_PARTICIPANTS);
        }
        if (terms.aggregatorsK == 0 || terms.aggregatorsK > terms.participantsWanted) revert InvalidAggregatorsK(terms.aggregatorsK, terms.participantsWanted);
        if (terms.roundDuration == 0 || terms.roundDuration > MAX_ROUND_DURATION) revert InvalidRoundDuration(terms.roundDuration, MAX_ROUND_DURATION);
        if (terms.bounty == 0) revert ZeroBounty();
        if (bytes(terms.taskSpecCid).length == 0) revert EmptyCid();
        jobId = ++jobCount;
        Job storage job = _jobs[jobId];
        job.sponsor = msg.sender;
        job.openedAt = uint64(block.timestamp);
        job.pool = terms.bounty;
        job.terms = terms;
        _rounds[jobId][1].deadline = uint64(block.timestamp) + terms.roundDuration;
        token.safeTransferFrom(msg.sender, address(this), terms.bounty);
        emit JobOpened(
            jobId,
            msg.sender,
            terms.baseVersionId,
            terms.taskSpecCid,
            terms.rounds,
            terms.participantsWanted,
            terms.bounty,
            terms.stake,
            terms.aggregatorsK,
            terms.roundDuration
        );
    }

    function _join(uint256 jobId) private {
        Job storage job = _job(jobId);
        if (job.sponsor == msg.sender) revert SponsorCannotJoin(jobId);
        Participant storage p = _participants[jobId][msg.sender];
        if (p.joined) revert AlreadyJoined(jobId, msg.sender);
        uint64 deadline = _rounds[jobId][1].deadline;
        if (block.timestamp >= deadline || job.finalizedRounds > 0) revert JoinClosed(jobId, deadline);
        if (job.participantCount >= job.terms.participantsWanted) revert JobFull(jobId, job.terms.participantsWanted);
        uint256 stake = job.terms.stake;
        p.joined = true;
        p.stake = stake;
        job.participantCount++;
        _participantList[jobId].push(msg.sender);
        if (stake > 0) token.safeTransferFrom(msg.sender, address(this), stake);
        emit Joined(jobId, msg.sender, stake);
    }

    function _finalize(Job storage job, Round storage r, uint256 jobId, uint256 round, string calldata aggregateCid, bytes32 cidHash, uint256 agreeing)
        private
    {
        r.finalizedAt = uint64(block.timestamp);
        r.aggregateCid = aggregateCid;
        job.finalizedRounds++;
        if (round < job.terms.rounds) _rounds[jobId][round + 1].deadline = uint64(block.timestamp) + job.terms.roundDuration;
        emit RoundFinalized(jobId, round, aggregateCid, agreeing);
        // Lazily, now that the right CID is known: the attesters that named another one lose their stake.
        address[] storage attesters = _attesters[jobId][round];
        for (uint256 i = 0; i < attesters.length; i++) {
            if (_attestations[jobId][round][attesters[i]] == cidHash) continue;
            Participant storage p = _participants[jobId][attesters[i]];
            uint256 amount = p.stake;
            p.stake = 0;
            p.slashed = true;
            job.pool += amount;
            emit Slashed(jobId, round, attesters[i], amount);
        }
    }

    function _job(uint256 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.sponsor == address(0)) revert UnknownJob(jobId);
    }

    function _checkParticipant(uint256 jobId) private view {
        if (!_participants[jobId][msg.sender].joined) revert NotParticipant(jobId, msg.sender);
    }

    function _checkRound(Job storage job, uint256 jobId, uint256 round) private view {
        if (round == 0 || round > job.terms.rounds) revert InvalidRound(jobId, round, job.terms.rounds);
    }

    /// @dev A round that started and is not finalized yet.
    function _startedRound(Job storage job, uint256 jobId, uint256 round) private view returns (Round storage r) {
        _checkRound(job, jobId, round);
        r = _rounds[jobId][round];
        if (r.deadline == 0) revert RoundNotStarted(jobId, round);
        if (r.finalizedAt != 0) revert RoundAlreadyFinalized(jobId, round);
    }

    function _permit(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        // A permit can be front-run (submitted by someone else first); then the allowance is already there.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }
}
